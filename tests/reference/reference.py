"""Shared set-up of the reference tests (tests/reference/README.md).

Each test builds its inputs with the real Hugging Face libraries (transformers, peft, safetensors,
tokenizers), runs the same thing through our engine (the `lorafa` CLI or lorafa-reference-probe,
tests/reference/probe/ReferenceProbe.cpp) and compares with a stated tolerance. A failure prints
what was compared, the tolerance, the largest difference, where it is and the values on both
sides.

Environment (set by ctest, tests/reference/Tests.cmake):
  LORAFA_CLI     the lorafa executable
  LORAFA_PROBE   the lorafa-reference-probe executable
  LORAFA_SOURCE  the repository root
  LORAFA_COMPAT_RECORD  optional: a JSON Lines file each comparison appends its result to
                        (tests/reference/compat_report.py turns them into docs/COMPATIBILITY.md)
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

try:
    import peft  # noqa: F401  (imported here so that a missing library fails every module the same way)
    import safetensors  # noqa: F401
    import tokenizers  # noqa: F401
    import torch
    import transformers  # noqa: F401
except ImportError as error:
    raise SystemExit(f"reference tests: {error.name} is not installed in {sys.executable}; run "
                     f"`bash packaging/install-deps.sh --tests` (pins: tests/reference/requirements.txt)")

torch.manual_seed(0)
torch.set_num_threads(1)  # ctest runs several reference modules at once; 1 thread each is faster


def _required_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"{name} is not set: run the reference tests through ctest "
                           f"(tests/reference/Tests.cmake), which sets it")
    return value


CLI = _required_env("LORAFA_CLI")
PROBE = _required_env("LORAFA_PROBE")
SOURCE = Path(_required_env("LORAFA_SOURCE"))
DEMO_MODEL = SOURCE / "resources" / "demo" / "model"
DEMO_DATA = SOURCE / "resources" / "demo" / "data"


def run(args: list[str], what: str, timeout: int = 600) -> str:
    """Runs one of our executables; a non-zero exit fails the test with its output."""
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise AssertionError(f"{what} failed (exit {done.returncode}):\n$ {' '.join(map(str, args))}\n"
                             f"{done.stdout[-4000:]}{done.stderr[-4000:]}")
    return done.stdout


def probe(*args) -> str:
    return run([PROBE, *args], f"lorafa-reference-probe {args[0]}")


def lorafa(*args) -> str:
    return run([CLI, *args], f"lorafa {args[0]}")


def our_logits(tmp: Path, model_dir: Path, inputs: dict, *extra) -> torch.Tensor:
    """The engine's logits for `inputs` (lorafa-reference-probe logits; extra: --adapter DIR ...)."""
    from safetensors.torch import save_file
    save_file({k: v.contiguous() for k, v in inputs.items()}, str(tmp / "inputs.safetensors"))
    probe("logits", model_dir, tmp / "inputs.safetensors", tmp / "logits.safetensors", *extra)
    return load_safetensors(tmp / "logits.safetensors")["logits"]


def train_run(folder: Path, config: dict, steps: int) -> tuple[Path, int]:
    """`lorafa train` on a JSON run configuration in `folder` (its own run history there); returns
    the history database and the run's id."""
    folder.mkdir(parents=True, exist_ok=True)
    config_path = folder / "run.json"
    config_path.write_text(json.dumps(config, indent=1), encoding="utf-8")
    store = folder / "runs.db"
    out = lorafa("train", config_path, "--store", store, "--max-steps", steps)
    if f"completed {steps} steps" not in out:
        raise AssertionError(f"lorafa train did not complete {steps} steps:\n{out[-3000:]}")
    return store, 1


def record(check: str, case: str, value: float, tolerance: float, unit: str) -> None:
    """Appends one comparison's largest difference for the compatibility report."""
    path = os.environ.get("LORAFA_COMPAT_RECORD")
    if not path:
        return
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps({"check": check, "case": case, "value": value, "tolerance": tolerance,
                            "unit": unit}) + "\n")


def assert_close(ours: torch.Tensor, theirs: torch.Tensor, *, what: str, check: str, case: str,
                 rel_to_scale: float | None = None, rtol: float = 0.0, atol: float = 0.0) -> float:
    """|ours - theirs| <= atol + rtol·|theirs| elementwise, or with rel_to_scale:
    max|ours - theirs| <= rel_to_scale · max|theirs| (the logits' scale). Returns the measured
    difference (relative to the scale when rel_to_scale is given, else absolute)."""
    ours = ours.detach().to(torch.float64).cpu()
    theirs = theirs.detach().to(torch.float64).cpu()
    if ours.shape != theirs.shape:
        raise AssertionError(f"{what}: shape {tuple(ours.shape)} (ours) vs {tuple(theirs.shape)} (reference)")
    diff = (ours - theirs).abs()
    if diff.numel() == 0:
        return 0.0
    worst = int(diff.argmax())
    index = tuple(int(i) for i in torch.unravel_index(torch.tensor(worst), diff.shape))
    if rel_to_scale is not None:
        scale = float(theirs.abs().max()) or 1.0
        measured = float(diff.max()) / scale
        ok = measured <= rel_to_scale
        rule = f"max|diff| / max|reference| <= {rel_to_scale:g} (scale {scale:.6g})"
        record(check, case, measured, rel_to_scale, "relative to the scale")
    else:
        bound = atol + rtol * theirs.abs()
        ok = bool((diff <= bound).all())
        rule = f"|diff| <= {atol:g} + {rtol:g}·|reference|"
        if atol == 0:
            measured = float((diff / theirs.abs().clamp_min(1e-30)).max())
            record(check, case, measured, rtol, "relative")
        else:
            measured = float(diff.max())
            record(check, case, measured, atol, "absolute")
    if not ok:
        bad = int((diff > (atol + rtol * theirs.abs())).sum()) if rel_to_scale is None else None
        lines = [f"{what}: outside the tolerance ({rule})",
                 f"  largest difference {float(diff.max()):.6g} at {index}: "
                 f"ours {float(ours[index]):.8g}, reference {float(theirs[index]):.8g}"]
        if bad is not None:
            lines.append(f"  {bad} of {diff.numel()} elements outside")
        flat = diff.flatten().topk(min(5, diff.numel()))
        for value, i in zip(flat.values, flat.indices):
            at = tuple(int(j) for j in torch.unravel_index(i, diff.shape))
            lines.append(f"    at {at}: ours {float(ours[at]):.8g}, reference {float(theirs[at]):.8g}, "
                         f"diff {float(value):.3g}")
        raise AssertionError("\n".join(lines))
    return measured


def assert_same_tokens(ours: list[int], theirs: list[int], *, what: str, check: str, case: str) -> None:
    first = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), None)
    if first is None and len(ours) != len(theirs):
        first = min(len(ours), len(theirs))
    record(check, case, 0.0 if first is None else 1.0, 0.0, "tokens differing (0: identical)")
    if first is not None:
        raise AssertionError(f"{what}: token sequences differ from position {first}\n"
                             f"  ours:      {ours}\n  reference: {theirs}")


def load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file
    return load_file(str(path))


class TempDirTestCase(unittest.TestCase):
    """A test case with a fresh temporary folder, removed afterwards."""

    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="lorafa-reference-")
        self.tmp = Path(self._tmp.name)

    def tearDown(self) -> None:
        self._tmp.cleanup()

    def tokenizer_folder(self, folder: Path, template: str | None) -> Path:
        """A copy of `folder`'s tokenizer.json and tokenizer_config.json in a new folder under tmp,
        with `template` as the config's chat_template when given."""
        target = self.tmp / f"tok{len(list(self.tmp.iterdir()))}"
        target.mkdir()
        (target / "tokenizer.json").write_bytes((folder / "tokenizer.json").read_bytes())
        config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
        if template is not None:
            config["chat_template"] = template
        (target / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
        return target
