"""Batched, differentiable Laplace-approximation GP classifier (the GDGP head).

Binary GP classification with a zero-mean GP prior, the logistic likelihood
``p(y|f) = sigmoid(y f)`` (``y`` in {-1, +1}) and the Laplace approximation of
Rasmussen & Williams, *Gaussian Processes for Machine Learning* (GPML, 2006):

* posterior mode by Newton's method in the stable ``B = I + W^1/2 K W^1/2`` form
  (Alg. 3.1), batched over images;
* predictive latent mean ``k*^T grad log p(y|f^)`` and variance ``k** - v^T v``
  (Alg. 3.2, eq. 3.21 / 3.24);
* approximate log marginal likelihood ``log q(y|X)`` (eq. 3.32; Alg. 3.1 line 10).

Differentiation: *implicit gradient by one-step differentiation*.  Newton's
iterations run to convergence under ``torch.no_grad`` (data-dependent count,
checked by ``max |f_new - f| <= tol``); then ONE differentiable Newton step
``f^ = g(stop_grad(f_k), theta)`` is taken.  At the fixed point of Newton's map its
Jacobian w.r.t. ``f`` is zero (quadratic convergence), so
``d f^/d theta = dg/d theta`` equals the implicit-function-theorem derivative
``(K^-1 + W)^-1 K^-1 (dK/dtheta) grad log p`` (GPML eq. 5.24) up to an error of the
order of the residual ``|f_k - f^|``.  This gives exact implicit gradients for the
mode, the predictions, eq. 3.32 (including the ``d W / d f^`` term of GPML
sec. 5.5.1) and the KL, with the memory/time of one Newton step instead of an
unrolled chain, and without a hand-written backward.

Padding: training points with ``train_mask == False`` get an identity row/column
in ``K``, ``W = 0`` and a zero likelihood gradient, so ``f``, ``a`` and ``v`` are
exactly zero there and they influence nothing.
"""

from __future__ import annotations

import math
from typing import Literal, TypedDict

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gdgp.methods.gp.kernels import DEFAULT_HYPERS, HybridKernel

ProbMode = Literal["sigmoid", "averaged"]


class GPOutput(TypedDict):
    """:meth:`LaplaceGPHead.forward`'s result (shapes there); ``var`` is None without ``predict_var``."""

    mean: Tensor
    var: Tensor | None
    prob: Tensor
    nll: Tensor
    kl: Tensor


# Williams & Barber (1998) approximation of the logistic sigmoid by 5 error
# functions, exactly as scikit-learn's GaussianProcessClassifier.predict_proba.
_WB_LAMBDAS = (0.41, 0.4, 0.37, 0.44, 0.39)
_WB_COEFS = (-1854.8214151, 3516.89893646, 221.29346712, 128.12323805, -2010.49422654)


def default_jitter(dtype: torch.dtype) -> float:
    """Diagonal nugget added to the training covariance: 1e-6 (float32/16) or 1e-9 (float64)."""
    return 1e-9 if dtype == torch.float64 else 1e-6


def default_tol(dtype: torch.dtype) -> float:
    """Newton convergence tolerance on ``max |f_new - f|``: 1e-9 (float64) or 1e-5 (float32)."""
    return 1e-9 if dtype == torch.float64 else 1e-5


# ---------------------------------------------------------------------- linear algebra
def robust_cholesky(A: Tensor, jitter: float, max_tries: int = 6) -> Tensor:
    """Lower Cholesky factor with a per-batch-item retry on growing jitter.

    Tries ``A``; the batch items whose factorisation fails (``cholesky_ex`` info > 0
    or non-finite factor) are retried with ``jitter * 10^k * mean(diag A) * I``
    added, ``k = 0..max_tries-1``.  Items that still fail fall back to
    ``diag(sqrt(max(diag A, jitter)))`` so the result is always finite.

    Args:
        A: ``(B, N, N)`` symmetric matrices (floating dtype).
        jitter: Relative jitter of the first retry.
        max_tries: Number of retries with growing jitter.

    Returns:
        ``(B, N, N)`` lower-triangular factor, differentiable w.r.t. ``A``.
    """
    L, info = torch.linalg.cholesky_ex(A)
    bad = torch.isfinite(L).all((-2, -1)).logical_not_().logical_or_(info > 0)
    if not bool(bad.any()):
        return L
    eye = torch.eye(A.shape[-1], dtype=A.dtype, device=A.device)
    scale = A.diagonal(dim1=-2, dim2=-1).abs().mean(-1).clamp_min(1.0).detach()
    for k in range(max_tries):
        extra = (jitter * 10.0**k) * scale * bad.to(A.dtype)
        L_try, info = torch.linalg.cholesky_ex(A + extra[:, None, None] * eye)
        ok = (info == 0) & torch.isfinite(L_try).flatten(1).all(-1)
        L = torch.where((bad & ok)[:, None, None], L_try, L)
        bad = bad & ~ok
        if not bool(bad.any()):
            return L
    fallback = torch.diag_embed(A.diagonal(dim1=-2, dim2=-1).clamp_min(jitter).sqrt())
    return torch.where(bad[:, None, None], fallback, L)


def _cho_solve(L: Tensor, rhs: Tensor) -> Tensor:
    """Solve ``(L L^T) x = rhs`` for ``(B, N, N)`` ``L`` and ``(B, N)`` ``rhs``."""
    return torch.cholesky_solve(rhs.unsqueeze(-1), L).squeeze(-1)


def _matvec(K: Tensor, x: Tensor) -> Tensor:
    """Batched ``K @ x`` for ``(B, N, N)`` ``K`` and ``(B, N)`` ``x`` (``bmm``: fewer ops than ``@``)."""
    return torch.bmm(K, x.unsqueeze(-1)).squeeze(-1)


def masked_train_cov(K: Tensor, mask: Tensor | None, jitter: float) -> Tensor:
    """Training covariance with padded rows/columns replaced by the identity.

    Args:
        K: ``(B, N, N)`` kernel matrix of the (padded) training points.
        mask: ``(B, N)`` bool, ``True`` for real clicks; ``None``: all real.
        jitter: Nugget added to the diagonal of the real points.

    Returns:
        ``(B, N, N)``: ``K + jitter I`` on valid points, identity on padding.
    """
    if mask is None:  # the same values as an all-True mask, without the masking passes
        return K + torch.diag_embed(K.new_full(K.shape[:-1], jitter))
    m = mask.to(K.dtype)
    diag = jitter * m + (1.0 - m)
    return K * m[:, :, None] * m[:, None, :] + torch.diag_embed(diag)


# ---------------------------------------------------------------------- likelihood
def _masked(x: Tensor, m: Tensor | None) -> Tensor:
    """``x * m``; ``m = None`` (every point valid) skips the pass (multiplying by 1 is exact)."""
    return x if m is None else x * m


def _label_sign(y01: Tensor) -> Tensor:
    """``-y = 1 - 2 y01`` in {+1, -1}: the sign in ``log p(y|f) = -softplus(-y f)``."""
    return 1.0 - 2.0 * y01


def _neg_log_likelihood(f: Tensor, neg_y: Tensor, m: Tensor | None) -> Tensor:
    """``-log p(y|f) = sum softplus(-y f)`` over the valid points (B,); ``neg_y = _label_sign(y01)``."""
    return _masked(F.softplus(neg_y * f), m).sum(-1)


def _logistic_terms(
    f: Tensor, y01: Tensor, m: Tensor | None, with_loglik: bool = True
) -> tuple[Tensor | None, Tensor, Tensor]:
    """Logistic likelihood terms (GPML Table 3.1), masked (``m = None``: no padding).

    Returns:
        ``(log p(y|f) summed (B,) or None, grad = y01 - pi (B, N), W^1/2 (B, N))``, all zero
        on padding.
    """
    loglik = -_neg_log_likelihood(f, _label_sign(y01), m) if with_loglik else None
    pi = torch.sigmoid(f)
    grad = _masked(y01 - pi, m)
    W = pi * torch.sigmoid(-f)  # accurate pi (1 - pi) for large |f|
    tiny = torch.finfo(f.dtype).tiny ** 0.5
    W_sr = _masked(W.clamp_min(tiny).sqrt(), m)  # clamp first: no inf gradient of sqrt at 0
    return loglik, grad, W_sr


def _stable_b(K: Tensor, W_sr: Tensor, eye: Tensor) -> Tensor:
    """``B = I + W^1/2 K W^1/2`` (GPML eq. 3.26), the well-conditioned matrix Alg. 3.1 factorises."""
    return torch.addcmul(eye, K, W_sr[:, :, None] * W_sr[:, None, :])


def _newton_step(
    K: Tensor, f: Tensor, y01: Tensor, m: Tensor | None, jitter: float, eye: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """One Newton step of GPML Alg. 3.1 (lines 4-8).

    Returns:
        ``(a, f_new)`` with ``f_new = K a``, both ``(B, N)``.
    """
    _, grad, W_sr = _logistic_terms(f, y01, m, with_loglik=False)  # line 4
    if eye is None:
        eye = torch.eye(K.shape[-1], dtype=K.dtype, device=K.device)
    L = robust_cholesky(_stable_b(K, W_sr, eye), jitter)  # line 5
    b = torch.addcmul(grad, W_sr * W_sr, f)  # line 6
    a = b - W_sr * _cho_solve(L, W_sr * _matvec(K, b))  # line 7
    return a, _matvec(K, a)  # line 8


def _psi(a: Tensor, f: Tensor, neg_y: Tensor, m: Tensor | None) -> Tensor:
    """Unnormalised log posterior ``-a^T f / 2 + log p(y|f)`` (GPML eq. 3.12, Alg. 3.1 line 9)."""
    return torch.sub(-0.5 * (a * f).sum(-1), _neg_log_likelihood(f, neg_y, m))


def _psi_dropped(psi_new: Tensor, psi: Tensor) -> Tensor:
    """(B,) bool: the step lowered ``Psi`` beyond rounding (it must be halved)."""
    return psi_new < psi - 1e-12 * psi.abs().clamp_min(1.0)


@torch.no_grad()
def find_mode(
    K: Tensor,
    y01: Tensor,
    m: Tensor | None,
    jitter: float,
    tol: float,
    max_iter: int = 50,
    max_halvings: int = 10,
    eye: Tensor | None = None,
) -> Tensor:
    """Posterior mode by Newton's method (GPML Alg. 3.1), batched, without gradients.

    A step that decreases ``Psi`` (eq. 3.12) is halved (in ``a``, hence in ``f = K a``)
    up to ``max_halvings`` times, the line search GPML sec. 3.4.1 suggests; for the
    logistic likelihood full steps are almost always accepted.  Stops when
    ``max |f_new - f| <= tol * (1 + max |f|)`` over the whole batch or after
    ``max_iter`` iterations.  One host synchronisation per iteration (the ~20x20
    systems make this loop dispatch-bound, not FLOP-bound).

    Args:
        K: ``(B, N, N)`` masked training covariance.
        y01: ``(B, N)`` labels in {0, 1}.
        m: ``(B, N)`` float mask, ``None`` when every point is valid.
        jitter: Cholesky retry jitter.
        tol: Convergence tolerance.
        max_iter: Maximum number of Newton iterations.
        max_halvings: Maximum step halvings per iteration.
        eye: ``(N, N)`` identity of ``K``'s dtype and device, if the caller has one.

    Returns:
        ``(B, N)`` mode ``f^`` (detached).
    """
    if eye is None:
        eye = torch.eye(K.shape[-1], dtype=K.dtype, device=K.device)
    neg_y = _label_sign(y01)  # once, not in every Psi
    a = torch.zeros_like(y01)
    f = torch.zeros_like(y01)
    psi = _psi(a, f, neg_y, m)
    for _ in range(max_iter):
        a_new, f_new = _newton_step(K, f, y01, m, jitter, eye)
        psi_new = _psi(a_new, f_new, neg_y, m)
        worse = _psi_dropped(psi_new, psi)
        any_worse, step, scale = torch.stack(
            [worse.any().to(f.dtype), (f_new - f).abs().max(), f_new.abs().max()]
        ).tolist()
        if any_worse:
            for _ in range(max_halvings):
                a_new = torch.where(worse[:, None], 0.5 * (a + a_new), a_new)
                f_new = torch.where(worse[:, None], 0.5 * (f + f_new), f_new)
                psi_new = _psi(a_new, f_new, neg_y, m)
                worse = _psi_dropped(psi_new, psi)
                if not bool(worse.any()):
                    break
            step, scale = float((f_new - f).abs().max()), float(f_new.abs().max())
        a, f, psi = a_new, f_new, psi_new
        if not math.isfinite(step) or step <= tol * (1.0 + scale):
            break
    return f


def averaged_probability(mean: Tensor, var: Tensor) -> Tensor:
    """``E[sigmoid(f)]`` for ``f ~ N(mean, var)`` (GPML eq. 3.25, Alg. 3.2 line 7).

    Williams & Barber's 5-erf approximation used by scikit-learn's ``predict_proba``,
    in closed form ``sum_i c_i (1 + erf(l_i mean / sqrt(1 + 2 l_i^2 var))) / 2``
    (algebraically identical to sklearn's expression, finite at ``var = 0``).  The
    coefficients cancel strongly (|c_i| ~ 3500, sum 1), so the sum is taken in
    float64 and the result clamped to [0, 1].

    Args:
        mean: latent mean, any shape.
        var: latent variance, same shape, >= 0.

    Returns:
        Probabilities, same shape and dtype as ``mean``.
    """
    acc = torch.float64 if mean.device.type != "mps" else mean.dtype
    mu, v = mean.to(acc), var.to(acc).clamp_min(0.0)
    out = torch.full_like(mu, 0.5 * sum(_WB_COEFS))
    if not torch.is_grad_enabled():  # the same sum with in-place passes (5x fewer allocations)
        for lam, c in zip(_WB_LAMBDAS, _WB_COEFS, strict=True):
            z = torch.mul(v, 2.0 * lam**2).add_(1.0).rsqrt_().mul_(mu).mul_(lam).erf_()
            out.add_(z, alpha=0.5 * c)
        return out.clamp_(0.0, 1.0).to(mean.dtype)
    for lam, c in zip(_WB_LAMBDAS, _WB_COEFS, strict=True):
        out = out + (0.5 * c) * torch.erf(lam * mu / torch.sqrt(1.0 + 2.0 * lam**2 * v))
    return out.clamp(0.0, 1.0).to(mean.dtype)


# ---------------------------------------------------------------------- module
class LaplaceGPHead(nn.Module):
    """GP classification head with the hybrid kernel and the Laplace approximation.

    The computation runs in the dtype of the kernel parameters (``head.double()``
    for float64 GP algebra behind a float32 network); inputs are cast to it and
    outputs are returned in the dtype of ``test_deep``.

    Args:
        alpha1, alpha2, tau, l: Initial kernel hyperparameters (see ``HybridKernel``).
        learnable: Whether the kernel hyperparameters are trained.
        prob_mode: ``"sigmoid"`` (default, as the paper: ``sigmoid(latent mean)``) or
            ``"averaged"`` (``E[sigmoid(f)]`` with the latent variance, identical to
            scikit-learn's ``predict_proba``).  Both give the same 0.5 decision boundary.
        jitter: Nugget on the training covariance diagonal and first Cholesky retry
            jitter; ``None`` selects ``default_jitter(dtype)``.
        tol: Newton tolerance; ``None`` selects ``default_tol(dtype)``.
        max_iter: Maximum number of Newton iterations.
        dtype: Parameter (= computation) dtype; see ``HybridKernel``.
        predict_var: Compute the latent variance of the test pixels. ``False`` skips the
            ``(N, N) @ (N, M)`` product and returns ``var = None`` (only allowed with
            ``prob_mode="sigmoid"``, which does not need it): GDGP's setting.
    """

    def __init__(
        self,
        alpha1: float = DEFAULT_HYPERS["alpha1"],
        alpha2: float = DEFAULT_HYPERS["alpha2"],
        tau: float = DEFAULT_HYPERS["tau"],
        l: float = DEFAULT_HYPERS["l"],  # noqa: E741
        learnable: bool = True,
        prob_mode: ProbMode = "sigmoid",
        jitter: float | None = None,
        tol: float | None = None,
        max_iter: int = 50,
        dtype: torch.dtype | None = None,
        predict_var: bool = True,
    ) -> None:
        super().__init__()
        if prob_mode not in ("sigmoid", "averaged"):
            raise ValueError(f"prob_mode must be 'sigmoid' or 'averaged', got {prob_mode!r}")
        if not predict_var and prob_mode == "averaged":
            raise ValueError("prob_mode='averaged' needs the latent variance (predict_var=True)")
        self.predict_var = predict_var
        self.kernel = HybridKernel(alpha1=alpha1, alpha2=alpha2, tau=tau, l=l, learnable=learnable, dtype=dtype)
        self.prob_mode: ProbMode = prob_mode
        self.jitter = jitter
        self.tol = tol
        self.max_iter = max_iter

    def hyperparameters(self) -> dict[str, float]:
        """Current kernel hyperparameters ``alpha1, alpha2, tau, l`` as floats."""
        return self.kernel.hyperparameters()

    @property
    def _dtype(self) -> torch.dtype:
        return next(self.kernel.parameters()).dtype

    def forward(
        self,
        train_int: Tensor,
        train_deep: Tensor,
        train_y: Tensor,
        train_mask: Tensor | None,
        test_int: Tensor,
        test_deep: Tensor,
    ) -> GPOutput:
        """Fit the Laplace posterior to the clicks and predict every test pixel.

        Args:
            train_int: ``(B, N, Di)`` intensity features of the clicked pixels.
            train_deep: ``(B, N, Dd)`` deep features of the clicked pixels.
            train_y: ``(B, N)`` labels, +1 foreground / -1 background (any dtype).
            train_mask: ``(B, N)`` bool, ``True`` for real clicks, ``False`` for padding;
                ``None`` means all valid.
            test_int: ``(B, M, Di)`` intensity features of the test pixels.
            test_deep: ``(B, M, Dd)`` deep features of the test pixels.

        Returns:
            Dict of tensors in the dtype of ``test_deep``:
            ``mean`` (B, M) latent mean, ``var`` (B, M) latent variance (``None`` when
            ``predict_var`` is off),
            ``prob`` (B, M) foreground probability (see ``prob_mode``),
            ``nll`` (B,) ``-log q(y|X)`` (GPML eq. 3.32), ``kl`` (B,)
            ``KL(q(f)||p(f))`` of the Laplace posterior at the training points.
        """
        out_dtype, dt = test_deep.dtype, self._dtype
        n_batch, n_train = train_y.shape
        t_int, t_deep = test_int.to(dt), test_deep.to(dt)
        mask: Tensor | None = None
        if train_mask is None:  # every click valid: no masking passes, no host sync
            x_int, x_deep = train_int.to(dt), train_deep.to(dt)
            y01 = (train_y > 0).to(dt)
            no_clicks = n_train == 0
        else:
            mask = train_mask.to(torch.bool)
            keep = mask[..., None]
            x_int = torch.where(keep, train_int.to(dt), 0.0)  # padded features may be garbage
            x_deep = torch.where(keep, train_deep.to(dt), 0.0)
            y01 = torch.where(mask, (train_y.to(dt) > 0).to(dt), 0.0)
            no_clicks = n_train == 0 or not bool(mask.any())
        if no_clicks:
            return self._prior(self.kernel.diag(t_int, t_deep), n_batch, out_dtype)
        h = self.kernel.hypers()  # constrained values, once per call
        jitter = self.jitter if self.jitter is not None else default_jitter(dt)
        tol = self.tol if self.tol is not None else default_tol(dt)
        m = None if mask is None else mask.to(dt)
        # Training covariance: GPyTorch's kernels when training; the same matrix from the
        # fused ``cross`` (no lazy-tensor dispatch, tested equal) at inference.
        if torch.is_grad_enabled():
            K_raw = self.kernel(x_int, x_deep, x_int, x_deep)
        else:
            K_raw = self.kernel.cross(x_int, x_deep, x_int, x_deep, h)
        K = masked_train_cov(K_raw, mask, jitter)

        eye = torch.eye(n_train, dtype=dt, device=K.device)
        f_k = find_mode(K, y01, m, jitter, tol, self.max_iter, eye=eye)
        # One differentiable Newton step from the detached mode = implicit gradient.
        a, f = _newton_step(K, f_k.detach(), y01, m, jitter, eye)
        loglik, grad, W_sr = _logistic_terms(f, y01, m)
        assert loglik is not None  # with_loglik (the default) computes it
        L = robust_cholesky(_stable_b(K, W_sr, eye), jitter)
        logdet_half = L.diagonal(dim1=-2, dim2=-1).log().sum(-1)  # sum log diag L

        # GPML Alg. 3.2 lines 4-6: mean = k*^T grad log p, v = L \ (W^1/2 k*), var = k** - v^T v.
        # One (N+1, N) @ (N, M) product: rows [grad^T; L^-1 diag(W^1/2)].  Padded points
        # have grad = W^1/2 = 0, so their (garbage) k* columns drop out.
        rows = grad[:, None, :]
        if self.predict_var:
            A = torch.linalg.solve_triangular(L, torch.diag_embed(W_sr), upper=False)
            rows = torch.cat([rows, A], dim=1)  # (B, N+1, N)
        R = self._times_cross_kernel(rows, x_int, x_deep, t_int, t_deep, h)  # (B, R, M)
        mean = R[:, 0]
        var = None
        if self.predict_var:
            v_sq = R[:, 1:].square_() if not torch.is_grad_enabled() else R[:, 1:].square()
            var = (self.kernel.diag(t_int, t_deep, h) - v_sq.sum(1)).clamp_min(0.0)  # k** - v^T v

        # GPML eq. 3.32: -log q(y|X) = a^T f / 2 - log p(y|f) + sum log diag L.
        quad = (a * f).sum(-1)  # f^T K^-1 f
        nll = 0.5 * quad - loglik + logdet_half
        kl = self._kl(L, quad, logdet_half)
        prob = self._probability(mean, var)
        return self._output(mean, var, prob, nll, kl, out_dtype)

    @staticmethod
    def _output(
        mean: Tensor, var: Tensor | None, prob: Tensor, nll: Tensor, kl: Tensor, dtype: torch.dtype
    ) -> GPOutput:
        """The result, every tensor in ``dtype`` (the inputs' dtype; the solve may run in float64)."""
        return GPOutput(
            mean=mean.to(dtype),
            var=None if var is None else var.to(dtype),
            prob=prob.to(dtype),
            nll=nll.to(dtype),
            kl=kl.to(dtype),
        )

    #: Kernel entries (batch x clicks x test pixels) per block of the no-gradient prediction
    #: (``HybridKernel.project``): 20 clicks x 8192 pixels of float32 is 640 KiB per buffer,
    #: so the block's few buffers stay in the 2 MiB L2 cache (measured best of 2048..65536
    #: pixels at 256^2; 25 % faster than one block).
    PREDICT_CHUNK = 20 * 8192

    @classmethod
    def predict_block(cls, device: torch.device, n_batch: int, n_train: int, n_test: int) -> int:
        """Test pixels per block: cache-sized on CPU; all of them on an accelerator, where
        each block would cost a dozen kernel launches and the whole matrix fits easily."""
        if device.type != "cpu":
            return max(1, n_test)
        return max(256, cls.PREDICT_CHUNK // max(1, n_batch * n_train))

    def _times_cross_kernel(
        self,
        rows: Tensor,
        x_int: Tensor,
        x_deep: Tensor,
        t_int: Tensor,
        t_deep: Tensor,
        h: dict[str, Tensor] | None = None,
    ) -> Tensor:
        """``rows @ k(X, X*)`` (B, R, M), in blocks of test pixels (``predict_block``)."""
        block = self.predict_block(t_int.device, x_int.shape[0], x_int.shape[1], t_int.shape[1])
        return self.kernel.project(rows, x_int, x_deep, t_int, t_deep, block=block, h=h)

    @staticmethod
    def _kl(L: Tensor, quad: Tensor, logdet_half: Tensor) -> Tensor:
        """KL(N(f^, (K^-1 + W)^-1) || N(0, K)) through ``B = L L^T``.

        With ``Sigma = (K^-1 + W)^-1``: ``tr(K^-1 Sigma) = tr(B^-1)`` and
        ``log|K| - log|Sigma| = log|B|`` (GPML eq. 3.27-3.29 algebra), so
        ``KL = (tr(B^-1) - N + f^T K^-1 f + log|B|) / 2``; padded points have unit
        diagonal in ``B`` and contribute ``1 - 1 = 0``.
        """
        eye = torch.eye(L.shape[-1], dtype=L.dtype, device=L.device).expand_as(L)
        L_inv = torch.linalg.solve_triangular(L, eye, upper=False)
        tr_b_inv = (L_inv * L_inv).sum((-2, -1))
        return 0.5 * (tr_b_inv - L.shape[-1] + quad + 2.0 * logdet_half)

    def _probability(self, mean: Tensor, var: Tensor | None) -> Tensor:
        if self.prob_mode == "averaged":
            assert var is not None, "prob_mode='averaged' implies predict_var (checked in __init__)"
            return averaged_probability(mean, var)
        return torch.sigmoid(mean)

    def _prior(self, kss: Tensor, n_batch: int, out_dtype: torch.dtype) -> GPOutput:
        """No clicks: the prior (mean 0, variance k**, probability 0.5, nll = kl = 0)."""
        zeros = torch.zeros_like(kss)
        zb = kss.new_zeros(n_batch)
        var = kss if self.predict_var else None
        return self._output(zeros, var, self._probability(zeros, kss), zb, zb, out_dtype)


__all__ = [
    "GPOutput",
    "LaplaceGPHead",
    "ProbMode",
    "averaged_probability",
    "default_jitter",
    "default_tol",
    "find_mode",
    "masked_train_cov",
    "robust_cholesky",
]
