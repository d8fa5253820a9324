"""``LBFGS``: limited-memory BFGS (Nocedal, 1980), PyTorch's algorithm (after Schmidt's minFunc), step by step.

One ``step(closure)`` runs up to ``max_iter`` iterations on all parameters seen as one flat vector ``x``. Each
iteration turns the gradient into a direction with the two-loop recursion over the last ``history_size`` pairs
``s = x_{k+1} - x_k``, ``y = g_{k+1} - g_k`` (scaled by ``H_diag = y.s / y.y``), then moves ``x`` along it by a
fixed ``lr`` (the first iteration by ``min(1, 1/|g|_1) * lr``) or by the step a strong-Wolfe line search finds
(cubic interpolation, bracketing and zoom, as in minFunc). It stops at ``tolerance_grad`` (max |g|),
``tolerance_change`` (in the loss or the step), ``max_iter`` or ``max_eval`` closure calls.

The flat vectors are backend arrays (never leaving the device); the scalars (dot products, step sizes, losses)
are Python floats, so the float64 trajectory is PyTorch's, and float32 parameters keep their dtype.
"""
from __future__ import annotations

from typing import Any, Callable

from anynn.autograd.grad_mode import enable_grad, no_grad
from anynn.autograd.tensor import Tensor, mark_modified
from anynn.optim.optimizer import Optimizer, ParamsT, check_hyperparameters

__all__ = ["LBFGS"]


class LBFGS(Optimizer):
    """PyTorch's L-BFGS: ``step(closure)`` with a closure that zeroes the gradients, recomputes the loss, calls
    ``backward()`` and returns the loss; one parameter group only. Memory: ``2 * history_size + 2`` flat copies
    of the parameters. State (of the first parameter, as in PyTorch): ``func_evals``, ``n_iter``, the last
    direction ``d`` and step ``t``, the history ``old_dirs``, ``old_stps``, ``ro``, ``H_diag``,
    ``prev_flat_grad`` and ``prev_loss``."""

    def __init__(self, params: ParamsT, lr: float = 1, max_iter: int = 20, max_eval: int | None = None,
                 tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9, history_size: int = 100,
                 line_search_fn: str | None = None):
        check_hyperparameters("LBFGS", lr=lr, tolerance_grad=tolerance_grad, tolerance_change=tolerance_change)
        for name, value in (("max_iter", max_iter), ("max_eval", max_eval), ("history_size", history_size)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"LBFGS: {name} must be a positive int, got {value!r}")
        if line_search_fn not in (None, "strong_wolfe"):
            raise ValueError(f"LBFGS: line_search_fn must be None or 'strong_wolfe', got {line_search_fn!r}")
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = dict(lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
                        tolerance_change=tolerance_change, history_size=history_size, line_search_fn=line_search_fn)
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups); pass one list of "
                             "parameters")
        self._params: list[Tensor] = self.param_groups[0]["params"]
        backends = {p.backend for p in self._params}
        if len(backends) != 1:
            raise ValueError(f"LBFGS: all parameters must live on one backend and device (it works on their "
                             f"concatenation), got {sorted(b.name for b in backends)}; move the model first")

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        if self.param_groups:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups); it takes one group")
        super().add_param_group(param_group)

    # ------------------------------------------------------------- the flat vector
    @property
    def _xp(self) -> Any:
        return self._params[0].xp

    def _gather_flat_grad(self) -> Any:
        """Every parameter's gradient (zeros where it has none) as one fresh flat array."""
        xp = self._xp
        return xp.concat([xp.zeros(p.numel(), dtype=p.array.dtype, device=p.array.device) if p.grad is None
                          else xp.reshape(p.grad.array, (-1,)) for p in self._params])

    def _add_grad(self, step_size: float, update: Any) -> None:
        """``x += step_size * update``, in place, parameter by parameter."""
        xp, offset = self._xp, 0
        for p in self._params:
            n = p.numel()
            p.array += step_size * xp.reshape(update[offset:offset + n], tuple(p.array.shape))
            mark_modified(p)
            offset += n

    def _clone_param(self) -> list[Any]:
        return [self._xp.asarray(p.array, copy=True) for p in self._params]

    def _set_param(self, arrays: list[Any]) -> None:
        for p, array in zip(self._params, arrays):
            p.array[...] = array
            mark_modified(p)

    def _directional_evaluate(self, closure: Callable[[], Any], x: list[Any], t: float, d: Any) -> tuple[float, Any]:
        """The loss and flat gradient at ``x + t * d``; the parameters are ``x`` again afterwards."""
        self._add_grad(t, d)
        with enable_grad():
            loss = float(closure())
        flat_grad = self._gather_flat_grad()
        self._set_param(x)
        return loss, flat_grad

    # ------------------------------------------------------------------- step
    def step(self, closure: Callable[[], Any]) -> Any:  # type: ignore[override]
        """Up to ``max_iter`` L-BFGS iterations; ``closure`` is required. Returns the first loss it computed."""
        if closure is None:
            raise RuntimeError("LBFGS.step needs a closure that reevaluates the model and returns the loss "
                               "(def closure(): optimizer.zero_grad(); loss = ...; loss.backward(); return loss)")
        with no_grad():
            return self._step(closure)

    def _step(self, closure: Callable[[], Any]) -> Any:
        xp = self._xp
        group = self.param_groups[0]
        lr, max_iter, max_eval = float(group["lr"]), group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        line_search_fn, history_size = group["line_search_fn"], group["history_size"]

        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        with enable_grad():
            orig_loss = closure()
        loss = float(orig_loss)
        current_evals = 1
        state["func_evals"] += 1
        flat_grad = self._gather_flat_grad()
        if _max_abs(xp, flat_grad) <= tolerance_grad:  # optimal already
            return orig_loss

        d, t = _array(state.get("d")), state.get("t")
        old_dirs = [_array(v) for v in state.get("old_dirs", [])]
        old_stps = [_array(v) for v in state.get("old_stps", [])]
        ro, h_diag = list(state.get("ro", [])), state.get("H_diag")
        prev_flat_grad, prev_loss = _array(state.get("prev_flat_grad")), state.get("prev_loss")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1

            # the direction: steepest descent at first, then the two-loop recursion over the history
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro, h_diag = [], [], [], 1.0
            else:
                y = flat_grad - prev_flat_grad
                s = d * t
                ys = _dot(xp, y, s)
                if ys > 1e-10:  # keep the pair only where the curvature condition holds
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    h_diag = ys / _dot(xp, y, y)
                al = [0.0] * len(old_dirs)
                q = -flat_grad
                for i in range(len(old_dirs) - 1, -1, -1):
                    al[i] = _dot(xp, old_stps[i], q) * ro[i]
                    q -= al[i] * old_dirs[i]
                d = r = q * h_diag
                for i in range(len(old_dirs)):
                    be_i = _dot(xp, old_dirs[i], r) * ro[i]
                    r += (al[i] - be_i) * old_stps[i]

            prev_flat_grad, prev_loss = flat_grad, loss

            # the step length
            if state["n_iter"] == 1:
                t = min(1.0, 1.0 / float(xp.sum(xp.abs(flat_grad)))) * lr
            else:
                t = lr
            gtd = _dot(xp, flat_grad, d)
            if gtd > -tolerance_change:  # not a descent direction (to within the tolerance)
                break

            ls_func_evals = 0
            if line_search_fn == "strong_wolfe":
                x_init = self._clone_param()

                def obj_func(x, t, d):
                    return self._directional_evaluate(closure, x, t, d)

                loss, flat_grad, t, ls_func_evals = _strong_wolfe(xp, obj_func, x_init, t, d, loss, flat_grad, gtd,
                                                                  max_ls=max_eval - current_evals)
                self._add_grad(t, d)
                opt_cond = _max_abs(xp, flat_grad) <= tolerance_grad
            else:
                self._add_grad(t, d)
                opt_cond = False
                if n_iter != max_iter:  # re-evaluate, except after the last iteration (the next step does)
                    with enable_grad():
                        loss = float(closure())
                    flat_grad = self._gather_flat_grad()
                    opt_cond = _max_abs(xp, flat_grad) <= tolerance_grad
                    ls_func_evals = 1
            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals

            # the stopping conditions
            if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                break
            if _max_abs(xp, d * t) <= tolerance_change or abs(loss - prev_loss) < tolerance_change:
                break

        backend = self._params[0].backend
        state.update(d=_tensor(d, backend), t=t, old_dirs=[_tensor(v, backend) for v in old_dirs],
                     old_stps=[_tensor(v, backend) for v in old_stps], ro=ro, H_diag=h_diag,
                     prev_flat_grad=_tensor(prev_flat_grad, backend), prev_loss=prev_loss)
        return orig_loss


# ---------------------------------------------------------------- helpers
def _dot(xp: Any, a: Any, b: Any) -> float:
    return float(xp.vecdot(a, b))


def _max_abs(xp: Any, a: Any) -> float:
    return float(xp.max(xp.abs(a)))


def _array(value: Any) -> Any:
    return value.array if isinstance(value, Tensor) else value


def _tensor(array: Any, backend: Any) -> Tensor | None:
    return None if array is None else Tensor._make(array, backend)


def _cubic_interpolate(x1: float, f1: float, g1: float, x2: float, f2: float, g2: float,
                       bounds: tuple[float, float] | None = None) -> float:
    """The minimiser of the cubic through (x1, f1) and (x2, f2) with slopes g1 and g2, clipped to ``bounds``
    (default: between x1 and x2); their midpoint where the cubic has no minimum."""
    xmin_bound, xmax_bound = bounds if bounds is not None else ((x1, x2) if x1 <= x2 else (x2, x1))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 ** 2 - g1 * g2
    if d2_square < 0:
        return (xmin_bound + xmax_bound) / 2.0
    d2 = d2_square ** 0.5
    if x1 <= x2:
        min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(min_pos, xmin_bound), xmax_bound)


def _strong_wolfe(xp: Any, obj_func: Callable, x: list[Any], t: float, d: Any, f: float, g: Any, gtd: float,
                  c1: float = 1e-4, c2: float = 0.9, tolerance_change: float = 1e-9,
                  max_ls: int = 25) -> tuple[float, Any, float, int]:
    """A step ``t`` along ``d`` meeting the strong Wolfe conditions (sufficient decrease ``c1``, curvature
    ``c2``): bracket it by growing ``t``, then zoom in by cubic interpolation. Returns the loss, flat gradient
    and step found, and the number of closure calls."""
    d_norm = _max_abs(xp, d)
    f_new, g_new = obj_func(x, t, d)
    ls_func_evals = 1
    gtd_new = _dot(xp, g_new, d)

    # bracketing phase
    t_prev, f_prev, g_prev, gtd_prev = 0.0, f, g, gtd
    done = False
    ls_iter = 0
    while ls_iter < max_ls:
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            bracket, bracket_f, bracket_g = [t_prev, t], [f_prev, f_new], [g_prev, g_new]
            bracket_gtd = [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bracket_f, bracket_g = [t_prev, t], [f_prev, f_new], [g_prev, g_new]
            bracket_gtd = [gtd_prev, gtd_new]
            break
        min_step = t + 0.01 * (t - t_prev)
        max_step = t * 10
        t_prev, t = t, _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(min_step, max_step))
        f_prev, g_prev, gtd_prev = f_new, g_new, gtd_new
        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = _dot(xp, g_new, d)
        ls_iter += 1
    if ls_iter == max_ls:  # reached the evaluation budget
        bracket, bracket_f, bracket_g = [0.0, t], [f, f_new], [g, g_new]

    # zoom phase: shrink the bracket until a point satisfies the conditions (or it cannot shrink)
    insuf_progress = False
    low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1])
        # keep away from the bracket's ends: a point within 10% of its width moves to 10% in
        eps = 0.1 * (max(bracket) - min(bracket))
        if min(max(bracket) - t, t - min(bracket)) < eps:
            if insuf_progress or t >= max(bracket) or t <= min(bracket):
                t = max(bracket) - eps if abs(t - max(bracket)) < abs(t - min(bracket)) else min(bracket) + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False
        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = _dot(xp, g_new, d)
        ls_iter += 1
        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low_pos]:
            bracket[high_pos], bracket_f[high_pos], bracket_g[high_pos] = t, f_new, g_new
            bracket_gtd[high_pos] = gtd_new
            low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high_pos] - bracket[low_pos]) >= 0:  # the old low end becomes the high end
                bracket[high_pos], bracket_f[high_pos] = bracket[low_pos], bracket_f[low_pos]
                bracket_g[high_pos], bracket_gtd[high_pos] = bracket_g[low_pos], bracket_gtd[low_pos]
            bracket[low_pos], bracket_f[low_pos], bracket_g[low_pos] = t, f_new, g_new
            bracket_gtd[low_pos] = gtd_new

    return bracket_f[low_pos], bracket_g[low_pos], bracket[low_pos], ls_func_evals
