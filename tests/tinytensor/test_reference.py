"""Plain beside fast: each fused operation equals its plain version in
tinytensor.reference, in value and in gradient (float64), and each plain
version passes gradcheck and gradgradcheck, being made only of operations
whose backward is differentiable again."""
import zlib

import numpy as np
import pytest

import tinytensor as tt
import tinytensor.nn.functional as F
from tensor_helpers import make_tensor

RTOL, ATOL = 1e-10, 1e-12


class Values:
    """A float64 input with these values (which may hold -inf), requiring grad."""

    def __init__(self, values):
        self.values = np.array(values, dtype=np.float64)


class Case:
    """op: the name in both tinytensor.nn.functional and tt.reference. args: a shape tuple is a random
    float64 input that requires grad, Values given values; anything else (targets,
    masks, ids, an axis) is passed as it is. seed: re-seed before every call (dropout)."""

    def __init__(self, op, id, *args, seed=None, **kwargs):
        self.op, self.id, self.args, self.kwargs, self.seed = op, id, args, kwargs, seed

    def inputs(self, device):
        rng = np.random.default_rng(zlib.crc32(f"{self.op}-{self.id}".encode()))
        return [make_tensor(rng, a, device) if isinstance(a, tuple)
                else tt.tensor(a.values, device=device, requires_grad=True) if isinstance(a, Values)
                else a for a in self.args]

    def run(self, module, args):
        if self.seed is not None:
            tt.manual_seed(self.seed)
        return getattr(module, self.op)(*args, **self.kwargs)


CAUSAL = np.tril(np.ones((4, 4), dtype=bool))
PADDING = np.array([[[True, True, True, False, False]], [[True, True, True, True, True]]])
ONE_ROW_MASKED = np.array([[True, False, True], [False, False, False], [True, True, True]])
HUGE = [[1e4, 0.0, -1e4, 1e4 - 1], [-1e4, -1e4 + 2, 3.0, -1e4]]
NEG_INF_ROWS = [[0.5, -np.inf, 1.0, -np.inf], [-np.inf, -np.inf, -np.inf, 2.0],
                [1.0, 2.0, 3.0, 4.0], [-np.inf] * 4]
TARGETS = np.array([1, 0, 4, 1])
IGNORED = np.array([1, -100, 4, -100])
NCD_TARGETS = np.array([[0, 2, -100], [1, 1, 0]])         # (N, d1) for logits (N, C=3, d1=3)
WEIGHT = np.array([0.2, 1.0, 2.5])
NS_RNG = np.random.default_rng(3)
NS_WINDOWS = (NS_RNG.random((2, 3, 5)) < 0.6).astype(float)
NS_WEIGHTS = NS_RNG.uniform(0, 1, (2, 3)), NS_RNG.uniform(0, 2, (2, 3, 4))

CASES = [
    Case("softmax", "last_dim", (3, 4), -1),
    Case("softmax", "dim_0", (2, 3, 4), 0),
    Case("softmax", "axis_alias", (2, 3, 4), axis=1),
    Case("softmax", "huge_logits", Values(HUGE), dim=-1),
    Case("softmax", "neg_inf_and_fully_masked_rows", Values(NEG_INF_ROWS), dim=1),
    Case("log_softmax", "last_dim", (3, 4), dim=-1),
    Case("log_softmax", "dim_1", (2, 3, 4), 1),
    Case("log_softmax", "huge_logits", Values(HUGE), -1),
    *(Case("cross_entropy", f"reduction={r}", (4, 5), TARGETS, reduction=r)
      for r in ("mean", "sum", "none")),
    *(Case("cross_entropy", f"ignore_index-{r}", (4, 5), IGNORED, reduction=r)
      for r in ("mean", "sum", "none")),
    Case("cross_entropy", "ignore_index_is_a_class", (4, 3), np.array([1, 0, 2, 1]),
         ignore_index=1),
    *(Case("cross_entropy", f"label_smoothing-{r}", (4, 5), IGNORED, label_smoothing=0.1,
           reduction=r) for r in ("mean", "sum", "none")),
    Case("cross_entropy", "NCd_logits_smoothing", (2, 3, 3), NCD_TARGETS, label_smoothing=0.2),
    Case("cross_entropy", "NCd_logits_none", (2, 3, 3), NCD_TARGETS, reduction="none"),
    Case("cross_entropy", "NCd1d2_weight", (2, 3, 2, 2),
         np.array([[[0, 2], [1, 1]], [[2, 2], [0, 1]]]), WEIGHT),
    Case("cross_entropy", "C_one_sample", (5,), np.array(3)),
    Case("cross_entropy", "C_one_sample_smoothing_none", (5,), np.array(1), label_smoothing=0.1,
         reduction="none"),
    *(Case("cross_entropy", f"weight_ignore_smoothing-{r}", (2, 3, 3),
           np.array([[0, 2, 1], [1, 1, 0]]), WEIGHT,
           ignore_index=1, label_smoothing=0.3, reduction=r) for r in ("mean", "sum", "none")),
    Case("cross_entropy", "all_ignored_sum", (2, 3), np.array([-100, -100]), WEIGHT,
         reduction="sum", label_smoothing=0.1),
    Case("cross_entropy", "huge_logits", Values([[1e4, -1e4, 0.0], [0.0, 1e4, 1e4]]),
         np.array([1, 2])),
    Case("layer_norm", "weight_and_bias", (2, 3, 4), [4], (4,), (4,)),
    Case("layer_norm", "no_weight_no_bias", (3, 5), 5),
    Case("layer_norm", "weight_only", (3, 5), [5], (5,)),
    Case("layer_norm", "bias_only_eps", (3, 5), [5], None, (5,), eps=1e-3),
    Case("layer_norm", "two_trailing_dims", (2, 3, 4), [3, 4], (3, 4), (3, 4)),
    Case("add_layer_norm", "weight_and_bias", (2, 3, 4), (2, 3, 4), [4], (4,), (4,)),
    Case("add_layer_norm", "no_weight_eps", (3, 5), (3, 5), [5], eps=1e-3),
    Case("add_layer_norm", "dropout_seeded", (2, 3, 4), (2, 3, 4), [4], (4,), (4,),
         dropout_p=0.3, seed=0),
    Case("relu_dropout", "seeded", (4, 6), 0.3, seed=0),
    Case("relu_dropout", "3d_seeded", (2, 3, 5), p=0.5, seed=2),
    Case("relu_dropout", "eval", (3, 4), p=0.5, training=False),
    Case("scaled_dot_product_attention", "plain", (2, 3, 4), (2, 5, 4), (2, 5, 3)),
    Case("scaled_dot_product_attention", "causal_mask", (2, 4, 3), (2, 4, 3), (2, 4, 2), CAUSAL),
    Case("scaled_dot_product_attention", "padding_mask", (2, 2, 4), (2, 5, 4), (2, 5, 3),
         attn_mask=PADDING),
    Case("scaled_dot_product_attention", "is_causal_L_not_S", (2, 3, 4), (2, 5, 4), (2, 5, 3),
         is_causal=True),
    Case("scaled_dot_product_attention", "float_mask_with_grad_and_scale", (2, 3, 4), (2, 5, 4),
         (2, 5, 3), (3, 5), scale=0.7),
    Case("scaled_dot_product_attention", "fully_masked_row", (3, 2), (3, 2), (3, 2),
         ONE_ROW_MASKED),
    Case("scaled_dot_product_attention", "heads_4d_mask_as_tensor", (2, 2, 4, 3), (2, 2, 4, 3),
         (2, 2, 4, 3), tt.tensor(CAUSAL)),
    Case("scaled_dot_product_attention", "need_weights", (2, 4, 3), (2, 4, 3), (2, 4, 2),
         CAUSAL, need_weights=True),
    Case("scaled_dot_product_attention", "dropout_seeded", (2, 3, 4), (2, 4, 4), (2, 4, 3),
         dropout_p=0.4, seed=0),
    Case("scaled_dot_product_attention", "need_weights_after_dropout", (2, 3, 4), (2, 4, 4),
         (2, 4, 3), dropout_p=0.4, need_weights=True, seed=1),
    Case("packed_attention", "plain", (3, 2, 4, 3)),
    Case("packed_attention", "causal_heads", (3, 2, 2, 4, 3), CAUSAL),
    Case("packed_attention", "float_mask_with_grad", (3, 2, 4, 3), (4, 4)),
    Case("packed_attention", "dropout_need_weights", (3, 2, 4, 4), dropout_p=0.4,
         need_weights=True, seed=1),
    Case("embedding", "repeated_ids", np.array([[0, 2, 0], [4, 0, 1]]), (5, 3)),
    Case("linear", "3d_input_bias", (2, 3, 4), (5, 4), (5,)),
    Case("linear", "2d_no_bias", (3, 4), (2, 4)),
    Case("linear", "1d_input", (4,), (3, 4), (3,)),
    Case("negative_sampling_loss", "exact", (2, 5, 3), (2, 3, 3), (2, 4, 3), NS_WINDOWS,
         *NS_WEIGHTS),
    # 11 of the 30 scores (2 of 6 centre scores) lie outside [-2, 2], none within 0.15 of its ends
    Case("negative_sampling_loss", "clip", (2, 5, 3), (2, 3, 3), (2, 4, 3), NS_WINDOWS,
         *NS_WEIGHTS, clip=2.0),
]
PARAMS = [pytest.param(case, id=f"{case.op}-{case.id}") for case in CASES]


def outputs(result):
    return list(result) if isinstance(result, (tuple, list)) else [result]


def differentiable(args):
    return [a for a in args if isinstance(a, tt.Tensor) and a.requires_grad]


def all_subclasses(cls):
    return {cls} | {s for sub in cls.__subclasses__() for s in all_subclasses(sub)}


def test_every_fused_function_has_a_reference_and_cases():
    fused = {cls for cls in all_subclasses(tt.Function)
             if cls.__module__.startswith("tinytensor.ops") and not cls.twice_differentiable}
    made_by_cases = {type(outputs(case.run(F, case.inputs("cpu")))[0].grad_fn) for case in CASES}
    assert fused <= made_by_cases
    assert set(tt.reference.__all__) == {case.op for case in CASES}


@pytest.mark.parametrize("case", PARAMS)
def test_fused_equals_reference_in_value_and_gradient(case, device):
    args = case.inputs(device)
    fused, plain = outputs(case.run(F, args)), outputs(case.run(tt.reference, args))
    assert len(fused) == len(plain)
    for f, p in zip(fused, plain):
        assert f.shape == p.shape and f.dtype == p.dtype == tt.float64
        assert f.requires_grad == p.requires_grad
        np.testing.assert_allclose(p.numpy(), f.numpy(), rtol=RTOL, atol=ATOL)
    rng = np.random.default_rng(0)
    upstream = tt.tensor(rng.standard_normal(fused[0].shape), device=device)
    inputs = differentiable(args)
    fused_grads = tt.grad((fused[0] * upstream).sum(), inputs, allow_unused=True)
    plain_grads = tt.grad((plain[0] * upstream).sum(), inputs, allow_unused=True)
    for x, f, p in zip(inputs, fused_grads, plain_grads):
        assert f.shape == p.shape == x.shape
        np.testing.assert_allclose(p.numpy(), f.numpy(), rtol=RTOL, atol=ATOL)


def first_output(case):
    return lambda *args: outputs(case.run(tt.reference, args))[0]


@pytest.mark.parametrize("case", PARAMS)
def test_reference_passes_gradcheck(case, device):
    assert tt.gradcheck(first_output(case), case.inputs(device))


@pytest.mark.parametrize("case", PARAMS)
def test_reference_passes_gradgradcheck(case, device):
    assert tt.gradgradcheck(first_output(case), case.inputs(device))


def test_reference_checks_its_arguments_as_the_fused_operation_does():
    logits = tt.zeros(3, 4, requires_grad=True)
    for module in (tt.nn.functional, tt.reference):
        with pytest.raises(IndexError, match=r"target must be in \[0, 4\).*from 0 to 4"):
            module.cross_entropy(logits, np.array([0, 4, 1]))
        with pytest.raises(ValueError, match="layer_norm: weight must have shape \\(4,\\)"):
            module.layer_norm(logits, (4,), tt.ones(3))
        with pytest.raises(TypeError, match="attn_mask must be boolean"):
            module.scaled_dot_product_attention(logits, logits, logits,
                                                attn_mask=np.ones((3, 3), dtype=np.int64))
        with pytest.raises(IndexError, match=r"embedding: ids must be in \[0, 3\)"):
            module.embedding(np.array([3]), logits)
