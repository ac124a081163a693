import itertools
import math

import torch

from hrm.model.losses import IGNORE_LABEL_ID, act_loss, softmax_cross_entropy, stablemax_cross_entropy


def _stablemax_direct(logits, labels):
    out = torch.zeros(labels.shape, dtype=torch.float64)
    for idx in itertools.product(*(range(n) for n in labels.shape)):
        y = int(labels[idx])
        if y == IGNORE_LABEL_ID:
            continue
        s = [(x + 1) if x >= 0 else 1 / (1 - x) for x in logits[idx].double().tolist()]
        out[idx] = -math.log(s[y] / sum(s))
    return out


def test_stablemax_matches_direct_formula_in_float64():
    torch.manual_seed(0)
    logits = torch.randn(3, 5, 7) * 4
    labels = torch.randint(0, 7, (3, 5))
    labels[0, 2] = IGNORE_LABEL_ID
    got = stablemax_cross_entropy(logits, labels)
    assert got.dtype == torch.float64
    torch.testing.assert_close(got, _stablemax_direct(logits, labels))
    assert got[0, 2] == 0
    assert stablemax_cross_entropy(logits, labels, dtype=torch.float32).dtype == torch.float32


def test_softmax_ce_ignores_labels():
    logits = torch.randn(2, 3, 4)
    labels = torch.tensor([[0, 1, IGNORE_LABEL_ID], [3, 2, 1]])
    got = softmax_cross_entropy(logits, labels)
    assert got[0, 2] == 0
    torch.testing.assert_close(got[1, 0], -torch.log_softmax(logits[1, 0], -1)[3])


def test_act_loss_normalisation_weights_and_metrics():
    torch.manual_seed(0)
    B, L, V = 3, 4, 5
    labels = torch.tensor([[1, 2, 3, 4], [0, 0, IGNORE_LABEL_ID, IGNORE_LABEL_ID], [IGNORE_LABEL_ID] * 4])
    logits = torch.randn(B, L, V)
    logits[0] = torch.nn.functional.one_hot(labels[0], V).float() * 10  # row 0 exactly right
    outputs = {
        "logits": logits,
        "q_halt_logits": torch.tensor([1.0, -2.0, 0.5]),
        "q_continue_logits": torch.tensor([0.0, 0.3, -1.0]),
        "target_q_continue": torch.tensor([0.2, 0.9, 0.5]),
    }
    halted = torch.tensor([True, True, False])
    steps = torch.tensor([2, 3, 1], dtype=torch.int32)
    total, m = act_loss(outputs, labels, halted, steps, "stablemax")
    ce = _stablemax_direct(logits, labels)
    lm = ce[0].sum() / 4 + ce[1].sum() / 2 + 0  # per-sequence mean over valid tokens, summed over rows
    correct = torch.tensor([1.0, float((logits[1, :2].argmax(-1) == 0).all()), 1.0])  # no valid tokens = correct
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    halt = bce(outputs["q_halt_logits"], correct, reduction="sum")
    cont = bce(outputs["q_continue_logits"], outputs["target_q_continue"], reduction="sum")
    torch.testing.assert_close(total, (lm + 0.5 * (halt + cont)).double())
    # metrics: only halted rows with ≥ 1 valid label (rows 0 and 1)
    assert m["count"] == 2 and m["steps"] == 5
    assert m["exact_accuracy"] == 1 + int(correct[1])
    row1_acc = (logits[1, :2].argmax(-1) == 0).float().mean()
    torch.testing.assert_close(m["accuracy"], 1.0 + row1_acc)
    assert m["q_halt_accuracy"] == int((1.0 >= 0) == bool(correct[0])) + int((-2.0 >= 0) == bool(correct[1]))


def test_act_loss_without_target_has_no_continue_term():
    logits = torch.randn(2, 3, 4)
    labels = torch.randint(0, 4, (2, 3))
    outputs = {"logits": logits, "q_halt_logits": torch.zeros(2), "q_continue_logits": torch.zeros(2)}
    total, m = act_loss(outputs, labels, torch.ones(2, dtype=torch.bool), torch.ones(2, dtype=torch.int32), "softmax")
    assert "q_continue_loss" not in m
    torch.testing.assert_close(total.float(), (m["lm_loss"] + 0.5 * m["q_halt_loss"]).float())
