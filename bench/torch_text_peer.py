"""PyTorch (eager, CPU) sentence encoding, the peer of bench/compare_torch_text.cpp.

    python bench/torch_text_peer.py --model-dir DIR --batches FILE --threads N --repeats R --out EMB

Reads the batches that compare_torch_text wrote (a safetensors file: int64 "ids_<i>" and
"mask_<i>", [B, L] each, i = 0, 1, ...), loads all-MiniLM-L6-v2 from DIR with sentence-transformers
(Transformer -> mean Pooling -> Normalize: transformers' BertModel, eager) on the CPU, and calls it
on each batch's ids and attention mask under torch.inference_mode(), as SentenceTransformer.encode
does after tokenizing. One pass over all batches is the timed unit: after a warm-up on the largest
batch, the best of `repeats` passes. Writes the sentence embeddings of the last pass (float32
"embeddings" [N, 384], in batch order) to EMB and prints one JSON line: torch_ms (the best pass's
wall time), torch_cpu_ms (the least CPU time of a pass, all threads together), threads,
torch_version.

Install its packages with scripts/bench_env.sh (benchmarks only; the library never needs them).
"""
import argparse
import json
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model is a local folder: never reach the Hub

import torch
from safetensors.torch import load_file, save_file
from sentence_transformers import SentenceTransformer


def read_batches(path):
    tensors = load_file(path)
    batches = []
    while f"ids_{len(batches)}" in tensors:
        i = len(batches)
        batches.append({"input_ids": tensors[f"ids_{i}"], "attention_mask": tensors[f"mask_{i}"],
                        "token_type_ids": torch.zeros_like(tensors[f"ids_{i}"])})
    if not batches or len(batches) * 2 != len(tensors):
        raise SystemExit(f"{path}: expected tensors ids_0, mask_0, ids_1, ... (got {sorted(tensors)})")
    return batches


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-dir", required=True, help="folder of all-MiniLM-L6-v2 (modules.json, ...)")
    parser.add_argument("--batches", required=True, help="safetensors file of ids_<i>, mask_<i>")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--repeats", type=int, default=2, help="timed passes after the warm-up")
    parser.add_argument("--out", required=True, help="safetensors file for the embeddings")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    model = SentenceTransformer(args.model_dir, device="cpu")
    model.eval()
    batches = read_batches(args.batches)

    def encode(chosen):
        with torch.inference_mode():
            return [model(dict(batch))["sentence_embedding"] for batch in chosen]

    # Warm-up (allocator, thread pool, one-time dispatch) on the batch with the most elements.
    encode([max(batches, key=lambda b: b["input_ids"].numel())])
    best = best_cpu = float("inf")
    for _ in range(args.repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        embeddings = encode(batches)
        best = min(best, (time.perf_counter() - start) * 1e3)
        best_cpu = min(best_cpu, (time.process_time() - start_cpu) * 1e3)
    save_file({"embeddings": torch.cat(embeddings).float().contiguous()}, args.out)
    print(json.dumps({"torch_ms": best, "torch_cpu_ms": best_cpu, "threads": torch.get_num_threads(),
                      "torch_version": torch.__version__}))


if __name__ == "__main__":
    main()
