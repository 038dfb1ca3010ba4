"""Training steps: our Trainer (through lorafa-reference-probe train, which runs the real Trainer on
a run configuration) against PEFT + torch.optim.AdamW and plain PyTorch, on the same tiny
transformers Llama, the same starting adapter and the same collated batch.

Three optimizer steps on one batch (every row; the batch is the probe's own collation of the run's
rows), then: the loss of every step, the gradients of the last step (A and B, or every weight for
full fine-tuning) and the weights after the last step. Three steps rather than one because
AdamW's first step is lr·sign(g) whatever the gradient's size; the later steps are not.

- LoRA: PEFT LoraConfig (dropout 0) + torch.optim.AdamW on A and B, weight decay 0.1;
- rsLoRA: the same with use_rslora (scaling α/√r);
- LoRA-FA: PEFT with every lora_A frozen + torch.optim.AdamW on B;
- LoRA-FA with optim.projected_b: PEFT's own create_lorafa_optimizer (its projection of B's
  gradient, (1/s²)·g_B·(A·Aᵀ)⁻¹, and its AdamW);
- full fine-tuning: transformers' model + torch.optim.AdamW on every parameter.
Tolerances (float32): losses 1e-5 relative; gradients 1e-4 of their largest magnitude; weights 1e-5
absolute (the learning rate is 1e-2: a thousandth of a step); AdamW's eps 1e-3 (see ADAM_EPS)."""
from __future__ import annotations

import json
import unittest
from pathlib import Path

import peft
import peft.optimizers.lorafa as peft_lorafa
import torch

import families
from reference import DEMO_MODEL, TempDirTestCase, assert_close, load_safetensors, probe

LR = 1e-2
STEPS = 3
RANK, ALPHA = 4, 8
TARGETS = ["q_proj", "v_proj", "down_proj"]
LOSS_RTOL, GRAD_TOLERANCE, WEIGHT_ATOL = 1e-5, 1e-4, 1e-5
# AdamW's eps, on both sides. Some gradient elements are at rounding level (1e-8 on a scale of 1,
# with opposite signs in two correct float32 computations); with eps 1e-8 AdamW turns each into a
# step of ±lr, so the weights could not be compared closely. With 1e-3 such elements barely move,
# and every step still depends on the gradient's size and on both moments.
ADAM_EPS = 1e-3

RECORDS = [
    {"instruction": "Name a colour of the sea.", "output": "Blue, mostly; grey under a storm."},
    {"instruction": "Say hello in French.", "input": "Hello", "output": "Bonjour."},
    {"instruction": "Count to four.", "output": "One, two, three, four."},
]


def peft_name(name: str) -> str:
    """PEFT's parameter name → ours: base_model.model.X.lora_A.default.weight → X.lora_A."""
    name = name.removeprefix("base_model.model.")
    for part in ("lora_A", "lora_B"):
        name = name.replace(f".{part}.default.weight", f".{part}")
    return name


class TrainStep(TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.case = families.CASES["llama"]
        # The demo tokenizer's special ids (<s> 0, </s> 1, <pad> 2), as a real checkpoint's config
        # has its tokenizer's: transformers' Llama embedding never trains the pad_token_id row
        # (nn.Embedding's padding_idx), so a pad id that is a real token elsewhere would differ.
        config = self.case.config(vocab=4096)
        config.bos_token_id, config.eos_token_id, config.pad_token_id = 0, 1, 2
        torch.manual_seed(0)
        self.base_dir = families.save(self.case.model_class(config), self.tmp / "base")
        for name in ("tokenizer.json", "tokenizer_config.json"):
            (self.base_dir / name).write_bytes((DEMO_MODEL / name).read_bytes())
        self.data = self.tmp / "data.jsonl"
        self.data.write_text("".join(json.dumps(r) + "\n" for r in RECORDS), encoding="utf-8")

    def peft_model(self, rslora: bool, init_dir: Path | None = None) -> peft.PeftModel:
        """The base with a LoRA adapter whose B is not zero (so A gets a gradient), saved once as
        the run's adapter.init_from."""
        base = families.load(self.base_dir, self.case)
        if init_dir is not None and init_dir.exists():
            return peft.PeftModel.from_pretrained(base, str(init_dir), is_trainable=True)
        model = peft.get_peft_model(base, peft.LoraConfig(r=RANK, lora_alpha=ALPHA, lora_dropout=0.0,
                                                          target_modules=TARGETS, use_rslora=rslora))
        torch.manual_seed(11)
        with torch.no_grad():
            for n, p in model.named_parameters():
                if "lora_B" in n:
                    p.copy_(torch.randn_like(p) * 0.05)
        return model

    def ours(self, method: str, *, rslora=False, init_dir=None, projected=False, eps=1e-8, weight_decay=0.0):
        config = {"model": str(self.base_dir), "output_dir": str(self.tmp / f"run-{method}"), "method": method,
                  "dataset": {"path": str(self.data), "format": "alpaca", "validation_fraction": 0.0},
                  "adapter": {"rank": RANK, "alpha": ALPHA, "rslora": rslora, "dropout": 0.0,
                              "targets": ",".join(TARGETS)},
                  "optim": {"lr": LR, "schedule": "constant", "warmup_steps": 0, "weight_decay": weight_decay,
                            "grad_clip": 0.0, "eps": eps, "projected_b": projected},
                  "train": {"batch_size": 8, "max_seq_len": 160, "max_steps": STEPS, "epochs": STEPS, "seed": 5,
                            "device": "cpu", "save_every": 0},
                  "eval": {"generate_max_examples": 0}}
        if init_dir is not None:
            config["adapter"]["init_from"] = str(init_dir)
        path = self.tmp / f"{method}.json"
        path.write_text(json.dumps(config), encoding="utf-8")
        probe("train", path, self.tmp / "out.safetensors", STEPS)
        return load_safetensors(self.tmp / "out.safetensors")

    @staticmethod
    def reference_steps(model, parameters, optimizer, batch) -> tuple[list[float], dict]:
        losses, grads = [], {}
        model.train()
        for _ in range(STEPS):
            optimizer.zero_grad(set_to_none=True)
            out = model(input_ids=batch["batch.input_ids"], attention_mask=batch["batch.attention_mask"],
                        labels=batch["batch.labels"])
            out.loss.backward()
            losses.append(float(out.loss.detach()))
            grads = {n: p.grad.detach().clone() for n, p in parameters if p.grad is not None}
            optimizer.step()
        return losses, grads

    def compare(self, label: str, ours: dict, losses: list[float], grads: dict, weights: dict,
                compare_grads: bool = True) -> None:
        assert_close(ours["loss"], torch.tensor(losses, dtype=torch.float64), what=f"{label}: loss of each step",
                     check="training step: loss", case=label, rtol=LOSS_RTOL)
        our_grads = {k.removeprefix("grad."): v for k, v in ours.items() if k.startswith("grad.")}
        our_weights = {k.removeprefix("param."): v for k, v in ours.items() if k.startswith("param.")}
        self.assertEqual(sorted(our_weights), sorted(weights), f"{label}: the trained parameters differ")
        if compare_grads:
            self.assertEqual(sorted(our_grads), sorted(grads), f"{label}: the parameters with gradients differ")
            scale = max(float(g.abs().max()) for g in grads.values())
            worst = max(float((our_grads[n] - grads[n]).abs().max()) for n in grads) / scale
            for n in grads:
                assert_close(our_grads[n], grads[n], what=f"{label}: gradient of {n} (scale {scale:.3g})",
                             check="training step: gradients", case=f"{label}: {n}",
                             atol=GRAD_TOLERANCE * scale)
            self.assertLessEqual(worst, GRAD_TOLERANCE)
        for n in weights:
            assert_close(our_weights[n], weights[n], what=f"{label}: {n} after {STEPS} steps",
                         check="training step: weights after 3 steps", case=f"{label}: {n}", atol=WEIGHT_ATOL)

    def lora_case(self, method: str, rslora: bool, weight_decay: float) -> None:
        init_dir = self.tmp / f"init-{rslora}"
        self.peft_model(rslora).save_pretrained(str(init_dir))
        ours = self.ours(method, rslora=rslora, init_dir=init_dir, weight_decay=weight_decay, eps=ADAM_EPS)
        model = self.peft_model(rslora, init_dir)
        for n, p in model.named_parameters():
            p.requires_grad_("lora_B" in n or (method == "lora" and "lora_A" in n))
        named = [(peft_name(n), p) for n, p in model.named_parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW([p for _, p in named], lr=LR, betas=(0.9, 0.999), eps=ADAM_EPS,
                                      weight_decay=weight_decay)
        losses, grads = self.reference_steps(model, named, optimizer, ours)
        label = f"{method}{' rslora' if rslora else ''}"
        self.compare(label, ours, losses, grads, {n: p.detach() for n, p in named})

    def test_lora_against_peft_and_adamw(self):
        self.lora_case("lora", rslora=False, weight_decay=0.1)

    def test_rslora_against_peft_and_adamw(self):
        self.lora_case("lora", rslora=True, weight_decay=0.1)

    def test_lorafa_against_peft_with_a_frozen(self):
        self.lora_case("lora-fa", rslora=False, weight_decay=0.1)

    def test_projected_b_against_peft_create_lorafa_optimizer(self):
        init_dir = self.tmp / "init-projected"
        self.peft_model(False).save_pretrained(str(init_dir))
        # eps 1e-12 on both sides: PEFT adds eps to √v before bias correction, we after it, as
        # torch.optim.AdamW does; with a negligible eps the two agree.
        ours = self.ours("lora-fa", init_dir=init_dir, projected=True, eps=1e-12)
        model = self.peft_model(False, init_dir)
        original = peft_lorafa.is_bf16_available
        # PEFT projects under bfloat16 autocast when the machine has bf16 (rounding the gradient to
        # 8 bits of mantissa); compare with its float32 path, the one our float32 run matches.
        peft_lorafa.is_bf16_available = lambda *a, **k: False
        try:
            optimizer = peft.optimizers.create_lorafa_optimizer(model, lr=LR, weight_decay=0.0)
            for group in optimizer.param_groups:
                group["eps"] = 1e-12
            named = [(peft_name(n), p) for n, p in model.named_parameters() if p.requires_grad]
            losses, _ = self.reference_steps(model, named, optimizer, ours)
        finally:
            peft_lorafa.is_bf16_available = original
        # Our dumped B gradients are projected and PEFT keeps the raw ones: the weights after three
        # steps (which depend on the projected gradients' sizes) are the comparison.
        self.compare("lora-fa projected B", ours, losses, {}, {n: p.detach() for n, p in named},
                     compare_grads=False)

    def test_full_fine_tuning_against_plain_pytorch(self):
        ours = self.ours("full", weight_decay=0.1, eps=ADAM_EPS)
        model = families.load(self.base_dir, self.case)
        named = list(model.named_parameters())
        optimizer = torch.optim.AdamW([p for _, p in named], lr=LR, betas=(0.9, 0.999), eps=ADAM_EPS,
                                      weight_decay=0.1)
        losses, grads = self.reference_steps(model, named, optimizer, ours)
        self.compare("full", ours, losses, grads, {n: p.detach() for n, p in named})


if __name__ == "__main__":
    unittest.main()
