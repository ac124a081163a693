"""The comparison lab (``hrm compare``): grids of training runs under one budget, with seeds, records, a table with
seed intervals, and hyperparameter searches on top. It drives training and evaluation, so it sits above both.

A *spec* (YAML; docs/compare.md) names tasks (recipes, with overrides), families (a model family plus overrides,
under a label) and seeds, and one budget for every cell: optimiser ``steps``, wall ``minutes`` or training
``flops``. Each cell = (family, task, seed) is one ``hrm train`` run followed by a held-out evaluation.

=====================  ==========================================================================================
module                 its one job
=====================  ==========================================================================================
:mod:`~.spec`          parse and check a spec file
:mod:`~.plan`          resolve the cells (configs, datasets, parameters, FLOPs per step); a rerun plans the same
:mod:`~.cell`          one cell, in its own process (``python -m hrm.lab.cell CELL_DIR``): train, evaluate, record
:mod:`~.grid`          run the unfinished cells (threads of cell processes, or Ray tasks); resume; failures
:mod:`~.records`       which records are complete; reading them; ``records.jsonl``
:mod:`~.stats`         Student's t, mean ± sd and a t-interval over seeds
:mod:`~.report`        the summary table and plots
:mod:`~.search`        Optuna searches whose trials are cells of the same folder
:mod:`~.tune`          a spec's ``tune:`` block: one search per family and task, then the seeds at the best
:mod:`~.study_dir`     the file names of a comparison folder
=====================  ==========================================================================================

Nothing is imported here, so that ``python -m hrm.lab.cell`` runs the cell module exactly once.
"""
