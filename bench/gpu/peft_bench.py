#!/usr/bin/env python3
"""The PEFT side of bench/gpu/run.sh: one LLaMA-shaped model (random weights, transformers),
trained a few steps with PEFT LoRA and with PEFT's LoRA-FA optimizer (create_lorafa_optimizer),
printing peak CUDA memory and tokens/s in the same format as lorafa-bench-model's summary.

--dry-run checks the configuration on the CPU with a tiny model (no CUDA needed)."""
import argparse
import sys
import time


def parse():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--hidden", type=int, default=2048)
    p.add_argument("--intermediate", type=int, default=5632)
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--heads", type=int, default=16)
    p.add_argument("--vocab", type=int, default=32000)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--seq", type=int, default=1024)
    p.add_argument("--rank", type=int, default=16)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    p.add_argument("--methods", default="lora,lora-fa")
    p.add_argument("--dry-run", action="store_true", help="tiny model on the CPU: checks the script only")
    return p.parse_args()


def run(args, method, torch, device):
    from transformers import LlamaConfig, LlamaForCausalLM
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    dtype = torch.float32 if args.dtype == "float32" else torch.bfloat16
    config = LlamaConfig(hidden_size=args.hidden, intermediate_size=args.intermediate,
                         num_hidden_layers=args.layers, num_attention_heads=args.heads,
                         num_key_value_heads=args.heads, vocab_size=args.vocab,
                         max_position_embeddings=max(args.seq, 2048))
    config._attn_implementation = "sdpa"
    model = LlamaForCausalLM(config).to(device=device, dtype=dtype)
    peft_config = LoraConfig(r=args.rank, lora_alpha=args.rank, lora_dropout=0.0, target_modules="all-linear")
    model = get_peft_model(model, peft_config)
    model.train()
    if method == "lora-fa":
        from peft.optimizers import create_lorafa_optimizer
        optimizer = create_lorafa_optimizer(model=model, r=args.rank, lora_alpha=args.rank, lr=1e-4)
    else:
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    ids = torch.randint(0, args.vocab, (args.batch, args.seq), device=device)

    def step():
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()  # warm-up: optimizer state allocated, kernels chosen
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() if cuda else 0
    tokens = args.batch * args.seq * args.steps / seconds
    print(f"peft   B {args.batch:3d} T {args.seq:5d} r {args.rank:3d} {method:<8s} measured {peak / 2**20:10.1f} MiB"
          f"  {tokens:9.1f} tokens/s  trainable {trainable}", flush=True)
    del model, optimizer
    if cuda:
        torch.cuda.empty_cache()
    return peak, tokens


def main():
    args = parse()
    import torch
    if args.dry_run:
        args.hidden, args.intermediate, args.layers, args.heads = 64, 128, 2, 4
        args.vocab, args.batch, args.seq, args.steps = 256, 2, 32, 1
        device = torch.device("cpu")
    else:
        if not torch.cuda.is_available():
            print("peft_bench.py: no CUDA device (use --dry-run to check the script on the CPU)", file=sys.stderr)
            return 2
        device = torch.device("cuda")
    import peft
    import transformers
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}, "
          f"device {torch.cuda.get_device_name() if device.type == 'cuda' else 'cpu'}", flush=True)
    for method in args.methods.split(","):
        run(args, method, torch, device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
