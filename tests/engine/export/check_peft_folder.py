#!/usr/bin/env python3
"""Checks an exported folder with Python's own json module, the way PEFT and safetensors read it.

usage: check_peft_folder.py adapter DIR | merged DIR
Written from PEFT's and safetensors' documented formats, independently of the C++ exporter.
"""
import json
import os
import struct
import sys

LORA_SUFFIXES = (".lora_A.weight", ".lora_B.weight")
TASK_TYPES = {"CAUSAL_LM", "SEQ_CLS", "SEQ_2_SEQ_LM", "TOKEN_CLS", "QUESTION_ANS", "FEATURE_EXTRACTION"}


def header(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        assert n < 100_000_000, f"{path}: header too large"
        h = json.loads(f.read(n).decode("utf-8"))
        size = os.fstat(f.fileno()).st_size
    assert (8 + n) % 8 == 0, f"{path}: data not 8-byte aligned"
    meta = h.pop("__metadata__", {})
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()), f"{path}: __metadata__ must map str to str"
    ranges = sorted(tuple(t["data_offsets"]) for t in h.values())
    pos = 0
    for begin, end in ranges:
        assert begin == pos, f"{path}: tensors do not tile the buffer"
        pos = end
    assert 8 + n + pos == size, f"{path}: file size disagrees with the header"
    return h, meta


def check_adapter(d):
    with open(os.path.join(d, "adapter_config.json")) as f:
        c = json.load(f)
    assert c["peft_type"] == "LORA"
    assert isinstance(c["r"], int) and c["r"] > 0
    assert isinstance(c["lora_alpha"], (int, float))
    assert isinstance(c["target_modules"], (list, str)) and c["target_modules"]
    assert c["task_type"] in TASK_TYPES, c["task_type"]
    assert c["bias"] == "none" and isinstance(c["fan_in_fan_out"], bool) and isinstance(c["use_rslora"], bool)
    saved = c.get("modules_to_save") or []
    tensors, meta = header(os.path.join(d, "adapter_model.safetensors"))
    assert meta.get("format") == "pt"
    modules = {}
    for key, t in tensors.items():
        assert key.startswith("base_model.model."), key
        assert t["dtype"] == "F32", (key, t["dtype"])
        if key.endswith(LORA_SUFFIXES):
            module, ab = key[: -len(".lora_A.weight")], key[-len("A.weight")]
            modules.setdefault(module, {})[ab] = t["shape"]
        else:
            rest = key[len("base_model.model."):]
            assert any(rest.startswith(m + ".") or ("." + m + ".") in rest for m in saved), f"{key}: not a LoRA weight nor modules_to_save"
    assert modules, "no LoRA weights"
    for module, ab in modules.items():
        assert set(ab) == {"A", "B"}, f"{module}: lora_A and lora_B must come in pairs"
        assert ab["A"][0] == c["r"] and ab["B"][1] == c["r"], f"{module}: shapes {ab} do not have r = {c['r']}"
        if isinstance(c["target_modules"], list):
            path = module[len("base_model.model."):]
            assert any(path == t or path.endswith("." + t) for t in c["target_modules"]), f"{path} not in target_modules"
    print(f"ok: {len(modules)} adapted modules, r={c['r']}, task {c['task_type']}")


def check_merged(d):
    with open(os.path.join(d, "config.json")) as f:
        config = json.load(f)
    assert "model_type" in config
    index_path = os.path.join(d, "model.safetensors.index.json")
    if os.path.exists(index_path):
        with open(index_path) as f:
            index = json.load(f)
        total = 0
        for shard in sorted(set(index["weight_map"].values())):
            tensors, meta = header(os.path.join(d, shard))
            assert meta.get("format") == "pt"
            for key, t in tensors.items():
                assert index["weight_map"][key] == shard, key
                total += t["data_offsets"][1] - t["data_offsets"][0]
        assert total == index["metadata"]["total_size"], "total_size disagrees with the shards"
        count = len(index["weight_map"])
    else:
        tensors, meta = header(os.path.join(d, "model.safetensors"))
        assert meta.get("format") == "pt"
        count = len(tensors)
    print(f"ok: {count} tensors, model_type {config['model_type']}")


if __name__ == "__main__":
    {"adapter": check_adapter, "merged": check_merged}[sys.argv[1]](sys.argv[2])
