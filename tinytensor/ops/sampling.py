"""Negative sampling (Word2Vec's CBOW loss) as one fused operation.

CBOW predicts each centre word from the mean h of its window's input
vectors. Negative sampling makes that a set of yes/no questions: is u the
centre word's output vector (yes), or a noise word's (no)?

    loss = -sum  cw * log sigmoid(h . u_centre)  -  sum  nw * log sigmoid(-h . u_noise)

Word2Vec lays a batch out in blocks (see tinytransformer/word2vec/losses.py):
a block's G centre words read the P input rows their windows can reach, and
share M noise words, so every score of a block is an entry of a matrix
product. Composed from small operations (tt.reference.negative_sampling_loss,
which Word2Vec's teaching version `cbow_loss` documents) that is a matmul, a
product and a sum, another matmul, two log-sigmoids, two weighted sums, each a
Function with its own pass over memory and temporaries, and as many again in
the backward. Here it is one Function with the backward written out:

    d/ds -log sigmoid(s) = sigmoid(s) - 1 = -sigmoid(-s),   d/ds -log sigmoid(-s) = sigmoid(s)

so with g_c = -cw * sigmoid(-s_c) and G_n = nw * sigmoid(S_n):
dh = g_c u_centre + G_n @ U_noise,  du_centre = g_c h,  dU_noise = G_n^T @ H,
d inputs = windows^T @ dH. Fused: not twice differentiable.

With clip c (gensim's MAX_EXP, 6), each score is clamped to [-c, c] first, so
a term whose score lies outside gives a constant and no gradient: the example
is already answered right (or so wrong that its step would be a full one in
a stale direction), and gensim and word2vec.c skip it.
"""
from .. import backend
from ..autograd import Function
from ..tensor import Tensor, array_beside
from . import register
from .activation import log_sigmoid_array
from .elementwise import sigmoid_array

__all__ = ["negative_sampling_loss"]


class NegativeSampling(Function):
    """CBOW's negative-sampling loss of blocks (see negative_sampling_loss).

    forward:  H = scale * (windows @ X)                       (N, G, d)
              s_c = rowwise H . U_c (N, G),   S_n = H @ U_n^T (N, G, M)
              loss = -sum cw * log sigmoid(s_c) - sum nw * log sigmoid(-S_n)
    backward: g_c = -cw * sigmoid(-s_c),  G_n = nw * sigmoid(S_n)   (times the output's gradient)
              dH = g_c U_c + G_n @ U_n,  dU_c = g_c H,  dU_n = G_n^T @ H,  dX = windows^T @ dH
    The scale is not in dX (straight through, see negative_sampling_loss).
    With clip c: s_c and S_n clamped to [-c, c], and g_c, G_n zero where |s| > c.
    """
    twice_differentiable = False

    def __init__(self, windows, centre_weights, noise_weights, scale, clip=None):
        self.windows, self.scale, self.clip = windows, scale, clip
        self.centre_weights, self.noise_weights = centre_weights, noise_weights

    def forward(self, inputs, centres, noise):
        xp = backend.get_array_module(inputs)
        h = xp.matmul(self.windows, inputs)                              # (N, G, d)
        if self.scale is not None:
            h *= self.scale
        centre_scores = xp.einsum("ngd,ngd->ng", h, centres)             # (N, G)
        # U^T as a contiguous array: a batched product with a transposed operand is slower
        noise_scores = xp.matmul(h, xp.ascontiguousarray(noise.swapaxes(-1, -2)))  # (N, G, M)
        if self.clip is not None:                                        # clamp's gradient
            inside = [xp.abs(s) <= self.clip for s in (centre_scores, noise_scores)]
            for scores in (centre_scores, noise_scores):
                xp.clip(scores, -self.clip, self.clip, out=scores)
        loss = -(xp.vdot(self.centre_weights, log_sigmoid_array(centre_scores))
                 + xp.vdot(self.noise_weights, log_sigmoid_array(-noise_scores)))
        centre_grad = sigmoid_array(-centre_scores)
        centre_grad *= self.centre_weights
        xp.negative(centre_grad, out=centre_grad)                        # g_c
        noise_grad = sigmoid_array(noise_scores)
        noise_grad *= self.noise_weights                                 # G_n
        if self.clip is not None:
            centre_grad *= inside[0]
            noise_grad *= inside[1]
        self.saved = h, centre_grad, noise_grad
        return xp.asarray(loss, dtype=inputs.dtype)

    def backward(self, gy):
        h, centre_grad, noise_grad = self.saved
        _, centres, noise = self.inputs
        xp = backend.get_array_module(h)
        g = gy.data
        centre_grad, noise_grad = centre_grad * g, noise_grad * g
        dh = xp.matmul(noise_grad, noise.data)                           # (N, G, d)
        dh += centre_grad[..., None] * centres.data
        d_centres = centre_grad[..., None] * h
        d_noise = xp.matmul(noise_grad.swapaxes(-1, -2), h)              # (N, M, d)
        d_inputs = xp.matmul(self.windows.swapaxes(-1, -2), dh)          # (N, P, d)
        return Tensor(d_inputs), Tensor(d_centres), Tensor(d_noise)

    def saved_inputs(self):
        return (1, 2)          # backward reads the output rows, not the input rows


def check_negative_sampling_args(inputs, centres, noise, windows, centre_weights, noise_weights,
                                 scale, clip=None):
    """The weight arrays (on the inputs' device, in their dtype), checked against the shapes,
    and clip, checked (a positive number or None)."""
    op = "negative_sampling_loss"
    if clip is not None and not clip > 0:    # `not >` also refuses NaN
        raise ValueError(f"{op}: clip must be a positive number or None, got {clip}")
    for name, v in (("inputs", inputs), ("centres", centres), ("noise", noise)):
        if not isinstance(v, Tensor) or v.ndim != 3 or v.dtype.kind != "f":
            raise TypeError(f"{op}: {name} must be a 3-D floating Tensor (blocks, rows, d), got "
                            f"{type(v).__name__} of shape {tuple(getattr(v, 'shape', ()))}")
        if v.dtype != inputs.dtype or v.device != inputs.device:
            raise TypeError(f"{op}: {name} is {v.dtype} on {v.device} but inputs is "
                            f"{inputs.dtype} on {inputs.device}")
    (n, p, d), (g, m) = inputs.shape, (centres.shape[1], noise.shape[1])
    if centres.shape[::2] != (n, d) or noise.shape[::2] != (n, d):
        raise ValueError(f"{op}: inputs {inputs.shape}, centres {centres.shape} and noise "
                         f"{noise.shape} need the same blocks N and row size d")
    xp = backend.xp_for(inputs.device)
    arrays = []
    for name, w, shape in (("windows", windows, (n, g, p)), ("centre_weights", centre_weights, (n, g)),
                           ("noise_weights", noise_weights, (n, g, m)), ("scale", scale, (n, g, 1))):
        if w is None and name == "scale":
            arrays.append(None)
            continue
        w = xp.asarray(array_beside(w, inputs, op, name), dtype=inputs.dtype)
        if tuple(w.shape) != shape:
            raise ValueError(f"{op}: {name} must have shape {shape} (N blocks, G centres, P "
                             f"inputs, M noise words), got {tuple(w.shape)}")
        arrays.append(w)
    return arrays


@register
def negative_sampling_loss(inputs, centres, noise, windows, centre_weights, noise_weights,
                           scale=None, clip=None):
    """CBOW's negative-sampling loss over N blocks of G centre words, summed (fused).

    inputs (N, P, d): input vectors of the P corpus positions a block's windows reach
    centres (N, G, d): output vectors of its centre words; noise (N, M, d): of its noise words
    windows (N, G, P): weight of position p in centre i's hidden vector (0 outside its window)
    centre_weights (N, G), noise_weights (N, G, M): weights of each centre's and noise term

        h_i = scale_i * sum_p windows[i, p] x_p
        loss = -sum cw_i log sigmoid(h_i . u_i) - sum nw_im log sigmoid(-h_i . u_m)

    scale (N, G, 1), or None for 1: applied in the forward pass only, so the
    gradient of h reaches each context word undivided (straight through). With
    0/1 windows and scale = 1 / count, h is the window's mean and the update is
    word2vec.c's and gensim's CBOW-mean. (tt.reference.negative_sampling_loss
    writes this with detach.) With scale None the gradient is exact.

    clip: a number c, or None: each score is clamped to [-c, c] before its
    log-sigmoid, so a term outside gives no gradient (gensim's and word2vec.c's
    MAX_EXP = 6, where they skip the term; they also skip a score of exactly 6,
    which clamp's gradient keeps).
    """
    windows, centre_weights, noise_weights, scale = check_negative_sampling_args(
        inputs, centres, noise, windows, centre_weights, noise_weights, scale, clip)
    clip = None if clip is None else float(clip)
    return NegativeSampling(windows, centre_weights, noise_weights, scale, clip)(
        inputs, centres, noise)
