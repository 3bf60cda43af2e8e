"""GP head (gdgp.methods.gp): agreement with scikit-learn's Laplace GPC, gradients, degenerate inputs, padding."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from sklearn.gaussian_process import GaussianProcessClassifier
from sklearn.gaussian_process.kernels import Kernel
from torch.func import functional_call

from gdgp.methods.gp import HybridKernel, LaplaceGPHead, robust_cholesky
from gdgp.methods.gp.laplace import masked_train_cov
from gdgp.methods.gp.sklearn_reference import sklearn_hybrid_kernel

HP = {"alpha1": 0.5, "alpha2": 0.2, "tau": 1.0, "l": 2.0}


def sklearn_kernel(di: int, dd: int, hp: dict[str, float] = HP) -> Kernel:
    """The same kernel from scikit-learn's RBF and Matern (the independent reference)."""
    return sklearn_hybrid_kernel(di, dd, **hp)


def random_problem(seed: int, n: int, m: int, di: int, dd: int):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, di + dd))
    xs = rng.normal(size=(m, di + dd))
    y = np.where(x[:, 0] + x[:, di] + 0.5 * rng.normal(size=n) > 0, 1, -1)
    if abs(y.sum()) == n:  # make sure both classes are present for sklearn
        y[0] = -y[0]
    return x, xs, y


def run_head(head: LaplaceGPHead, x, xs, y, di: int, mask=None) -> dict[str, torch.Tensor]:
    t = lambda a: torch.as_tensor(np.asarray(a))[None]  # noqa: E731
    with torch.no_grad():
        return head(t(x[:, :di]), t(x[:, di:]), t(y), mask, t(xs[:, :di]), t(xs[:, di:]))


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-8)))


# ------------------------------------------------------------------ kernel
def test_kernel_matches_sklearn_and_exposes_hypers():
    x, xs, _ = random_problem(0, 12, 7, 2, 5)
    kern = HybridKernel(**HP, dtype=torch.float64)
    k = kern(*(torch.as_tensor(a)[None] for a in (x[:, :2], x[:, 2:], xs[:, :2], xs[:, 2:])))[0].detach().numpy()
    ref = sklearn_kernel(2, 5)(x, xs)
    np.testing.assert_allclose(k, ref, rtol=1e-10, atol=1e-12)
    d = kern.diag(torch.as_tensor(xs[:, :2])[None], torch.as_tensor(xs[:, 2:])[None])[0].detach().numpy()
    np.testing.assert_allclose(d, HP["alpha1"] + HP["alpha2"], rtol=1e-12)
    # the fused cross-covariance used for the test pixels is the same matrix (with and without grad)
    args = [torch.as_tensor(a)[None] for a in (x[:, :2], x[:, 2:], xs[:, :2], xs[:, 2:])]
    with torch.no_grad():
        np.testing.assert_allclose(kern.cross(*args)[0].numpy(), ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(kern.cross(*args)[0].detach().numpy(), ref, rtol=1e-10, atol=1e-12)
    got = kern.hyperparameters()
    assert set(got) == set(HP) and all(abs(got[k] - HP[k]) < 1e-6 for k in HP)


def test_fixed_kernel_has_no_trainable_parameters():
    head = LaplaceGPHead(learnable=False)
    assert not any(p.requires_grad for p in head.parameters())
    assert all(p.requires_grad for p in LaplaceGPHead().parameters())


# ------------------------------------------------------------------ scikit-learn agreement
@pytest.mark.parametrize("seed,n,di,dd", [(0, 10, 1, 4), (1, 24, 2, 6), (2, 40, 3, 8), (3, 17, 1, 8), (4, 33, 2, 5)])
def test_matches_sklearn_laplace_gpc(seed, n, di, dd):
    x, xs, y = random_problem(seed, n, 50, di, dd)
    gpc = GaussianProcessClassifier(kernel=sklearn_kernel(di, dd), optimizer=None).fit(x, (y > 0).astype(int))
    est = gpc.base_estimator_
    # Alg. 3.2 from the fitted attributes (f_cached, W_sr_, L_, pi_).
    k_star = est.kernel_(est.X_train_, xs)
    mu_ref = k_star.T @ (est.y_train_ - est.pi_)
    v = np.linalg.solve(est.L_, est.W_sr_[:, None] * k_star)
    var_ref = est.kernel_.diag(xs) - np.einsum("ij,ij->j", v, v)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p_ref = gpc.predict_proba(xs)[:, 1]

    out = run_head(LaplaceGPHead(**HP, prob_mode="averaged", dtype=torch.float64), x, xs, y, di)
    assert rel_err(out["mean"][0].numpy(), mu_ref) <= 1e-4
    assert rel_err(out["var"][0].numpy(), var_ref) <= 1e-4
    assert rel_err(out["prob"][0].numpy(), p_ref) <= 1e-4
    lml = est.log_marginal_likelihood_value_
    assert abs(-float(out["nll"][0]) - lml) <= 1e-4 * abs(lml)
    # float32 stays close too.
    out32 = run_head(LaplaceGPHead(**HP, prob_mode="averaged"), x.astype(np.float32), xs.astype(np.float32), y, di)
    assert out32["mean"].dtype == torch.float32
    np.testing.assert_allclose(out32["mean"][0].numpy(), mu_ref, atol=1e-4)
    np.testing.assert_allclose(out32["var"][0].numpy(), var_ref, atol=1e-4)


def test_sigmoid_probability_and_kl():
    x, xs, y = random_problem(5, 15, 20, 1, 4)
    out = run_head(LaplaceGPHead(**HP, dtype=torch.float64), x, xs, y, 1)
    np.testing.assert_allclose(out["prob"].numpy(), torch.sigmoid(out["mean"]).numpy())
    # KL against the dense formula 0.5 [tr(K^-1 S) + f^T K^-1 f - N + log|K| - log|S|].
    head = LaplaceGPHead(**HP, jitter=0.0, dtype=torch.float64)
    t = lambda a: torch.as_tensor(a)[None]  # noqa: E731
    kern = head.kernel
    with torch.no_grad():
        out = head(t(x[:, :1]), t(x[:, 1:]), t(y), None, t(xs[:, :1]), t(xs[:, 1:]))
        K = kern(t(x[:, :1]), t(x[:, 1:]), t(x[:, :1]), t(x[:, 1:]))[0]
        # mode = posterior mean at the training points themselves
        f = head(t(x[:, :1]), t(x[:, 1:]), t(y), None, t(x[:, :1]), t(x[:, 1:]))["mean"][0]
    pi = torch.sigmoid(f)
    W = torch.diag(pi * (1 - pi))
    S = torch.linalg.inv(torch.linalg.inv(K) + W)
    Kinv = torch.linalg.inv(K)
    kl = 0.5 * (torch.trace(Kinv @ S) + f @ Kinv @ f - len(f) + torch.logdet(K) - torch.logdet(S))
    assert abs(float(out["kl"][0]) - float(kl)) <= 1e-6 * max(1.0, abs(float(kl)))


# ------------------------------------------------------------------ gradients
def test_gradcheck_hyperparameters_and_deep_features():
    torch.manual_seed(0)
    head = LaplaceGPHead(**HP, dtype=torch.float64)
    names = [n for n, _ in head.named_parameters()]
    params = [p.detach().clone().requires_grad_() for _, p in head.named_parameters()]
    tr_int, te_int = torch.randn(1, 6, 1, dtype=torch.float64), torch.randn(1, 4, 1, dtype=torch.float64)
    tr_deep = torch.randn(1, 6, 4, dtype=torch.float64, requires_grad=True)
    te_deep = torch.randn(1, 4, 4, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([[1.0, -1.0, 1.0, 1.0, -1.0, -1.0]], dtype=torch.float64)
    head.prob_mode = "averaged"

    def fn(tr_d, te_d, *ps):
        out = functional_call(head, dict(zip(names, ps)), (tr_int, tr_d, y, None, te_int, te_d))
        return out["mean"], out["var"], out["prob"], out["nll"], out["kl"]

    assert torch.autograd.gradcheck(fn, (tr_deep, te_deep, *params), eps=1e-6, atol=1e-6, rtol=1e-4)


def test_gradients_flow_with_padding_and_float32():
    torch.manual_seed(1)
    head = LaplaceGPHead()
    tr_deep = torch.randn(2, 5, 8, requires_grad=True)
    mask = torch.tensor([[True] * 5, [True, True, False, False, False]])
    y = torch.tensor([[1.0, -1, 1, -1, 1], [1, -1, 0, 0, 0]])
    out = head(torch.randn(2, 5, 1), tr_deep, y, mask, torch.randn(2, 30, 1), torch.randn(2, 30, 8))
    loss = out["prob"].sum() + out["nll"].sum() + out["kl"].sum()
    loss.backward()
    assert torch.isfinite(tr_deep.grad).all() and tr_deep.grad[1, 2:].abs().max() == 0
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in head.parameters())


# ------------------------------------------------------------------ degenerate inputs and padding
def _finite(out: dict[str, torch.Tensor]) -> bool:
    return all(torch.isfinite(v).all() for v in out.values())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_degenerate_inputs(dtype):
    gen = torch.Generator().manual_seed(0)
    head = LaplaceGPHead().to(dtype)
    te_int, te_deep = (
        torch.randn(1, 40, 1, generator=gen, dtype=dtype),
        torch.randn(1, 40, 6, generator=gen, dtype=dtype),
    )
    tr_int, tr_deep = te_int[:, :5], te_deep[:, :5]  # clicks at the first five test pixels
    # all foreground: prob > 0.5 at the clicks
    out = head(tr_int, tr_deep, torch.ones(1, 5, dtype=dtype), None, te_int, te_deep)
    assert _finite(out) and (out["prob"][0, :5] > 0.5).all() and (out["prob"] >= 0.5).all()
    # all background
    out = head(tr_int, tr_deep, -torch.ones(1, 5, dtype=dtype), None, te_int, te_deep)
    assert _finite(out) and (out["prob"][0, :5] < 0.5).all()
    # duplicate clicks (identical feature vectors), also with conflicting labels
    dup_int, dup_deep = tr_int[:, [0, 0, 0, 1]], tr_deep[:, [0, 0, 0, 1]]
    for labels in ([1.0, 1.0, 1.0, -1.0], [1.0, -1.0, 1.0, -1.0]):
        out = head(dup_int, dup_deep, torch.tensor([labels], dtype=dtype), None, te_int, te_deep)
        assert _finite(out)
    # a single click
    out = head(tr_int[:, :1], tr_deep[:, :1], torch.ones(1, 1, dtype=dtype), None, te_int, te_deep)
    assert _finite(out) and out["prob"][0, 0] > 0.5
    # zero clicks (empty and fully masked) -> the prior
    for n in (0, 3):
        out = head(
            tr_int[:, :n],
            tr_deep[:, :n],
            torch.ones(1, n, dtype=dtype),
            torch.zeros(1, n, dtype=torch.bool),
            te_int,
            te_deep,
        )
        assert _finite(out)
        assert (out["mean"] == 0).all() and torch.allclose(out["prob"], torch.full_like(out["prob"], 0.5))
        assert torch.allclose(out["var"], torch.full_like(out["var"], 0.7))
        assert (out["nll"] == 0).all() and out["kl"].abs().max() < 1e-6
    # huge outputscale (very confident latents) stays finite, gradients too
    big = LaplaceGPHead(alpha1=1e3, alpha2=1e3).to(dtype)
    out = big(tr_int, tr_deep, torch.tensor([[1.0, -1, 1, -1, 1]], dtype=dtype), None, te_int, te_deep)
    (out["prob"].sum() + out["nll"].sum()).backward()
    assert _finite(out) and all(torch.isfinite(p.grad).all() for p in big.parameters())


def test_padding_invariance():
    x, xs, y = random_problem(7, 12, 30, 1, 5)
    head = LaplaceGPHead(prob_mode="averaged", dtype=torch.float64)
    ref = run_head(head, x, xs, y, 1)
    rng = np.random.default_rng(0)
    # batch of 2: item 0 = the problem with 5 garbage padded clicks interleaved, item 1 = another problem
    n_pad = 17
    order = rng.permutation(n_pad)
    xp = np.full((n_pad, x.shape[1]), 1e6)
    yp = np.ones(n_pad)
    maskp = np.zeros(n_pad, bool)
    real = np.sort(order[:12])
    xp[real], yp[real], maskp[real] = x, y, True
    x2, xs2, y2 = random_problem(8, n_pad, 30, 1, 5)
    t = lambda a: torch.as_tensor(np.stack(a))  # noqa: E731
    with torch.no_grad():
        out = head(
            t([xp[:, :1], x2[:, :1]]),
            t([xp[:, 1:], x2[:, 1:]]),
            t([yp, y2]),
            torch.as_tensor(np.stack([maskp, np.ones(n_pad, bool)])),
            t([xs[:, :1], xs2[:, :1]]),
            t([xs[:, 1:], xs2[:, 1:]]),
        )
    for k in ("mean", "var", "prob", "nll", "kl"):
        torch.testing.assert_close(out[k][0], ref[k][0], rtol=1e-9, atol=1e-10)
    single = run_head(head, x2, xs2, y2, 1)
    for k in ("mean", "var", "prob", "nll", "kl"):
        torch.testing.assert_close(out[k][1], single[k][0], rtol=1e-9, atol=1e-10)


def test_robust_cholesky_retries_and_never_fails():
    a = torch.ones(3, 4, 4, dtype=torch.float64)  # rank one: plain Cholesky fails
    a[0] = torch.eye(4, dtype=torch.float64)
    a[2] = -torch.eye(4, dtype=torch.float64)  # negative definite: fallback
    L = robust_cholesky(a, 1e-9)
    assert torch.isfinite(L).all()
    torch.testing.assert_close(L[0], torch.eye(4, dtype=torch.float64))
    assert torch.allclose(L[1] @ L[1].T, a[1], atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    x, xs, y = random_problem(9, 20, 64, 1, 8)
    head = LaplaceGPHead(prob_mode="averaged", dtype=torch.float64)
    ref = run_head(head, x, xs, y, 1)
    t = lambda a: torch.as_tensor(np.asarray(a), device="cuda")[None]  # noqa: E731
    with torch.no_grad():
        out = head.cuda()(t(x[:, :1]), t(x[:, 1:]), t(y), None, t(xs[:, :1]), t(xs[:, 1:]))
    for k in ref:
        torch.testing.assert_close(out[k].cpu(), ref[k], rtol=1e-8, atol=1e-10)


def test_mean_only_mode_gives_the_same_mean_and_probability() -> None:
    g = torch.Generator().manual_seed(5)
    x_i, x_d = torch.randn(2, 9, 1, generator=g), torch.randn(2, 9, 4, generator=g)
    y = torch.where(torch.randn(2, 9, generator=g) > 0, 1.0, -1.0)
    mask = torch.ones(2, 9, dtype=torch.bool)
    mask[1, 6:] = False
    t_i, t_d = torch.randn(2, 50, 1, generator=g), torch.randn(2, 50, 4, generator=g)
    full = LaplaceGPHead(dtype=torch.float64)(x_i, x_d, y, mask, t_i, t_d)
    fast = LaplaceGPHead(dtype=torch.float64, predict_var=False)(x_i, x_d, y, mask, t_i, t_d)
    assert fast["var"] is None
    for k in ("mean", "prob", "nll", "kl"):
        torch.testing.assert_close(fast[k], full[k])
    with pytest.raises(ValueError, match="needs the latent variance"):
        LaplaceGPHead(prob_mode="averaged", predict_var=False)


def test_blockwise_prediction_equals_one_block(monkeypatch: pytest.MonkeyPatch) -> None:
    g = torch.Generator().manual_seed(9)
    x_i, x_d = torch.randn(2, 7, 2, generator=g), torch.randn(2, 7, 3, generator=g)
    y = torch.where(torch.randn(2, 7, generator=g) > 0, 1.0, -1.0)
    t_i, t_d = torch.randn(2, 1000, 2, generator=g), torch.randn(2, 1000, 3, generator=g)
    head = LaplaceGPHead(dtype=torch.float64)
    with torch.no_grad():
        whole = head(x_i, x_d, y, None, t_i, t_d)
        monkeypatch.setattr(LaplaceGPHead, "PREDICT_CHUNK", 2 * 7 * 300)  # 4 blocks, the last one partial
        blocks = head(x_i, x_d, y, None, t_i, t_d)
    for k in ("mean", "var", "prob"):
        torch.testing.assert_close(blocks[k], whole[k], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("di,dd,block", [(1, 8, 64), (3, 16, 100), (2, 5, 4096)])
def test_projected_cross_kernel_matches_sklearn(di: int, dd: int, block: int) -> None:
    """``project`` (rows @ k(X, X*), blockwise, in place) against scikit-learn's kernel matrix."""
    x, xs, _ = random_problem(11 + di, 15, 333, di, dd)
    hp = {"alpha1": 0.7, "alpha2": 0.3, "tau": 0.6, "l": 1.7}
    kern = HybridKernel(**hp, dtype=torch.float64)
    rows = np.random.default_rng(di).normal(size=(4, 15))
    ref = rows @ sklearn_kernel(di, dd, hp)(x, xs)
    t = lambda a: torch.as_tensor(a)[None]  # noqa: E731
    args = (t(rows), t(x[:, :di]), t(x[:, di:]), t(xs[:, :di]), t(xs[:, di:]))
    with torch.no_grad():
        fast = kern.project(*args, block=block)[0].numpy()
    np.testing.assert_allclose(fast, ref, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(kern.project(*args, block=block)[0].detach().numpy(), ref, rtol=1e-9, atol=1e-11)
    # the channels-first layout the network produces (a transposed view) gives the same numbers
    cf = lambda a: torch.as_tensor(np.ascontiguousarray(a.T))[None].transpose(1, 2)  # noqa: E731
    with torch.no_grad():
        view = kern.project(args[0], args[1], args[2], cf(xs[:, :di]), cf(xs[:, di:]), block=block)[0].numpy()
    np.testing.assert_allclose(view, ref, rtol=1e-9, atol=1e-11)


def test_averaged_probability_inference_path_equals_autograd_path() -> None:
    from gdgp.methods.gp import averaged_probability

    g = torch.Generator().manual_seed(2)
    mean = 4.0 * torch.randn(500, generator=g, dtype=torch.float64)
    var = 3.0 * torch.rand(500, generator=g, dtype=torch.float64)
    var[:5] = 0.0
    with torch.no_grad():
        fast = averaged_probability(mean, var)
    slow = averaged_probability(mean.requires_grad_(), var)
    torch.testing.assert_close(fast, slow.detach(), rtol=0, atol=1e-11)  # c_i ~ 3500 cancel
    # and at var = 0 it is the logistic sigmoid to the approximation's accuracy (~1e-3)
    assert float((fast[:5] - torch.sigmoid(mean[:5].detach())).abs().max()) < 2e-3


def test_newton_line_search_recovers_from_an_overshooting_step(monkeypatch: pytest.MonkeyPatch) -> None:
    """A step that lowers Psi is halved; the mode is still the minimiser scipy finds."""
    from scipy.optimize import minimize

    from gdgp.methods.gp import laplace

    rng = np.random.default_rng(4)
    x = rng.normal(size=(10, 3))
    K = np.exp(-0.5 * ((x[:, None] - x[None]) ** 2).sum(-1)) * 3.0 + 1e-9 * np.eye(10)
    y01 = (x[:, 0] > 0).astype(float)
    K_inv = np.linalg.inv(K)

    def neg_psi(f: np.ndarray) -> float:
        return 0.5 * f @ K_inv @ f + np.logaddexp(0.0, -(2 * y01 - 1) * f).sum()

    ref = minimize(neg_psi, np.zeros(10), method="BFGS", options={"gtol": 1e-10}).x
    real_step, calls = laplace._newton_step, {"step": 0, "psi": 0}

    def overshoot(*args, **kwargs):
        calls["step"] += 1
        a, f = real_step(*args, **kwargs)
        return (6.0 * a, 6.0 * f) if calls["step"] == 1 else (a, f)  # first step 6x too long

    real_psi = laplace._psi

    def counted_psi(*args):
        calls["psi"] += 1
        return real_psi(*args)

    monkeypatch.setattr(laplace, "_newton_step", overshoot)
    monkeypatch.setattr(laplace, "_psi", counted_psi)
    t = lambda a: torch.as_tensor(a)[None]  # noqa: E731
    f = laplace.find_mode(t(K), t(y01), torch.ones(1, 10, dtype=torch.float64), 1e-9, 1e-10)[0].numpy()
    assert calls["psi"] > calls["step"] + 1  # some step was halved
    np.testing.assert_allclose(f, ref, atol=1e-5)


def test_prediction_blocks_fit_the_cache_on_cpu_and_are_whole_on_an_accelerator() -> None:
    cpu, gpu = torch.device("cpu"), torch.device("cuda")  # only the device type is read
    assert LaplaceGPHead.predict_block(cpu, 1, 20, 65536) == 8192
    assert LaplaceGPHead.predict_block(cpu, 8, 20, 65536) == 1024  # the batch shares the cache
    assert LaplaceGPHead.predict_block(cpu, 64, 40, 4096) == 256  # never below 256 pixels
    assert LaplaceGPHead.predict_block(gpu, 8, 20, 65536) == 65536


def test_no_mask_is_the_all_valid_mask() -> None:
    """``train_mask=None`` skips the masking passes; the numbers are exactly those of an all-True mask."""
    g = torch.Generator().manual_seed(12)
    x_i, x_d = torch.randn(3, 8, 3, generator=g), torch.randn(3, 8, 5, generator=g)
    y = torch.where(torch.randn(3, 8, generator=g) > 0, 1.0, -1.0)
    t_i, t_d = torch.randn(3, 200, 3, generator=g), torch.randn(3, 200, 5, generator=g)
    head = LaplaceGPHead(prob_mode="averaged")
    for grad in (False, True):  # the inference path and the training path
        with torch.set_grad_enabled(grad):
            a = head(x_i, x_d, y, None, t_i, t_d)
            b = head(x_i, x_d, y, torch.ones(3, 8, dtype=torch.bool), t_i, t_d)
        for k in ("mean", "var", "prob", "nll", "kl"):
            assert torch.equal(a[k], b[k]), (grad, k)
    K = torch.rand(2, 5, 5, generator=g)
    assert torch.equal(masked_train_cov(K, None, 1e-6), masked_train_cov(K, torch.ones(2, 5, dtype=torch.bool), 1e-6))
