#!/usr/bin/env python3
"""The reference side of lorafa-bench-tokenize: Hugging Face's `tokenizers` (PyPI; its Rust core
through the Python binding) encoding the same text in the same ways, printing the same fields
(token counts and an FNV-1a hash of the ids, so equal lines also show equal ids).

    .venv/bin/python bench/tokenize_reference.py --tokenizer DIR --text FILE [--repeat N]

`tokenizers` is pinned in packaging/requirements.txt and installed into .venv with it.
"""
import argparse
import os
import time

from tokenizers import Tokenizer, __version__ as TOKENIZERS_VERSION

FNV_OFFSET = 2166136261


def hash_ids(ids, value=FNV_OFFSET):
    """32-bit FNV-1a over the ids, as lorafa-bench-tokenize computes it."""
    for token_id in ids:
        value = ((value ^ token_id) * 16777619) & 0xFFFFFFFF
    return value


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--tokenizer', required=True, help='a tokenizer.json or the folder holding it')
    parser.add_argument('--text', required=True, help='the UTF-8 text file to encode')
    parser.add_argument('--repeat', type=int, default=3, help='runs of each measurement (default 3)')
    args = parser.parse_args()
    tokenizer_path = args.tokenizer
    if os.path.isdir(tokenizer_path):
        tokenizer_path = os.path.join(tokenizer_path, 'tokenizer.json')
    repeats = args.repeat

    with open(args.text, encoding='utf-8', newline='') as f:
        text = f.read()
    megabytes = len(text.encode('utf-8')) / 1e6

    start = time.perf_counter()
    tokenizer = Tokenizer.from_file(tokenizer_path)
    print(f'reference: tokenizers {TOKENIZERS_VERSION}, loaded in {time.perf_counter() - start:.2f} s')
    print(f'text: {args.text}, {megabytes:.2f} MB')

    best = float('inf')
    cold = 0.0
    ids = []
    for r in range(repeats):
        start = time.perf_counter()
        ids = tokenizer.encode(text, add_special_tokens=False).ids
        seconds = time.perf_counter() - start
        if r == 0:
            cold = seconds
        best = min(best, seconds)
    print(f'reference document: {len(ids)} tokens, ids hash {hash_ids(ids):08x}, first run '
          f'{megabytes / cold:.1f} MB/s, best of {repeats} {megabytes / best:.1f} MB/s')

    records = []
    start_at = 0
    while start_at < len(text):
        end = text.find('\n\n', start_at)
        if end < 0:
            end = len(text)
        records.append(text[start_at:end])
        start_at = end + 2
    for mode in ('sequential', 'encode_batch'):
        best = float('inf')
        count = 0
        value = FNV_OFFSET
        for _ in range(repeats):
            count = 0
            value = FNV_OFFSET
            start = time.perf_counter()
            if mode == 'sequential':
                encodings = [tokenizer.encode(record, add_special_tokens=False) for record in records]
            else:
                encodings = tokenizer.encode_batch(records, add_special_tokens=False)
            for encoding in encodings:
                record_ids = encoding.ids
                count += len(record_ids)
                value = hash_ids(record_ids, value)
            best = min(best, time.perf_counter() - start)
        note = '1 call at a time' if mode == 'sequential' else 'one batch call, parallel on all cores'
        print(f'reference paragraphs ({mode}): {len(records)} records, {count} tokens, ids hash {value:08x}, '
              f'best of {repeats} {megabytes / best:.1f} MB/s ({note})')


if __name__ == '__main__':
    main()
