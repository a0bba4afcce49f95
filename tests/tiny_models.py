"""Tiny random models of each architecture family, built offline (no Hub access).

Tokenizers are trained with ``tokenizers`` on text from ../shared/data so that the verbalizer
words of our tasks are single tokens; models are random-weight configs of a few layers. Each
builder writes a ``save_pretrained`` folder that ``AutoTokenizer`` / ``AutoModel*`` load as a
Hub model would. ``build_all(root)`` makes every family; the bench reuses ``build_t5``.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import (
    BertConfig,
    BertForMaskedLM,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
    RobertaConfig,
    RobertaForMaskedLM,
    T5Config,
    T5ForConditionalGeneration,
)

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
# Words our task templates use: kept whole in every vocabulary.
TEMPLATE_WORDS = (
    "negative positive Question Is this sentence or Answer yes no True False true false "
    "entailment contradiction neutral not_entailment duplicate question answer the a What "
    "Do both questions ask same ? : . , Neither"
)
VOCAB_SIZE = 1200


def _corpus(limit: int = 4000) -> list[str]:
    lines = [TEMPLATE_WORDS] * 50
    for name in ("sst2/validation.jsonl", "adv_qnli/validation.jsonl", "rte/validation.jsonl"):
        path = SHARED_DATA / name
        if not path.exists():
            continue
        with path.open(encoding="utf-8") as f:
            for line in f:
                row = json.loads(line)
                lines.extend(
                    str(row[k]) for k in ("sentence", "sentence1", "sentence2", "question")
                    if k in row
                )
                if len(lines) > limit:
                    break
    return lines


def _wordpiece(lowercase: bool) -> Tokenizer:
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=lowercase)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(_corpus(), trainers.WordPieceTrainer(vocab_size=VOCAB_SIZE, special_tokens=specials))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    return tok


def _byte_bpe(specials: list[str]) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(
        _corpus(),
        trainers.BpeTrainer(
            vocab_size=VOCAB_SIZE, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    return tok


def _save_tokenizer(tok: Tokenizer, out: Path, **special_tokens) -> PreTrainedTokenizerFast:
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, **special_tokens)
    fast.save_pretrained(out)
    return fast


def build_bert(out: Path, layers: int = 2, hidden: int = 32, ffn: int = 64, seed: int = 0) -> Path:
    tok = _save_tokenizer(
        _wordpiece(lowercase=False), out,
        unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]",
    )
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(tok), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2,
        intermediate_size=ffn, max_position_embeddings=256, pad_token_id=tok.pad_token_id,
    )
    BertForMaskedLM(config).save_pretrained(out)
    return out


def build_roberta(out: Path, layers: int = 2, hidden: int = 32, ffn: int = 64, seed: int = 0) -> Path:
    bpe = _byte_bpe(["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    bos, eos = bpe.token_to_id("<s>"), bpe.token_to_id("</s>")
    bpe.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", bos), ("</s>", eos)]
    )
    tok = _save_tokenizer(
        bpe, out, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
        cls_token="<s>", sep_token="</s>", mask_token="<mask>",
    )
    torch.manual_seed(seed)
    config = RobertaConfig(
        vocab_size=len(tok), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2,
        intermediate_size=ffn, max_position_embeddings=258, pad_token_id=tok.pad_token_id,
        bos_token_id=bos, eos_token_id=eos, type_vocab_size=1,
    )
    RobertaForMaskedLM(config).save_pretrained(out)
    return out


def build_gpt2(out: Path, layers: int = 2, hidden: int = 32, seed: int = 0) -> Path:
    bpe = _byte_bpe(["<|endoftext|>"])
    tok = _save_tokenizer(bpe, out, bos_token="<|endoftext|>", eos_token="<|endoftext|>", unk_token="<|endoftext|>")
    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=len(tok), n_embd=hidden, n_layer=layers, n_head=2, n_positions=256,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
    )
    GPT2LMHeadModel(config).save_pretrained(out)
    return out


def build_llama(out: Path, layers: int = 2, hidden: int = 32, ffn: int = 64, seed: int = 0) -> Path:
    """A gated-FFN decoder (SwiGLU), for the hook points of gated architectures."""
    bpe = _byte_bpe(["<unk>", "<s>", "</s>"])
    tok = _save_tokenizer(bpe, out, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=hidden, intermediate_size=ffn, num_hidden_layers=layers,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(out)
    return out


def build_t5(
    out: Path, layers: int = 2, d_model: int = 32, d_ff: int = 64, heads: int = 2, seed: int = 0,
    feed_forward_proj: str = "relu",
) -> Path:
    wp = _wordpiece(lowercase=False)
    # T5 conventions: pad = 0 (also the decoder start), eos appended, no BOS.
    wp.post_processor = processors.TemplateProcessing(
        single="$A [SEP]", pair="$A [SEP] $B [SEP]", special_tokens=[("[SEP]", wp.token_to_id("[SEP]"))]
    )
    tok = _save_tokenizer(wp, out, unk_token="[UNK]", pad_token="[PAD]", eos_token="[SEP]")
    torch.manual_seed(seed)
    config = T5Config(
        vocab_size=len(tok), d_model=d_model, d_kv=d_model // heads, d_ff=d_ff, num_layers=layers,
        num_decoder_layers=layers, num_heads=heads, feed_forward_proj=feed_forward_proj,
        pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, decoder_start_token_id=tok.pad_token_id,
    )
    T5ForConditionalGeneration(config).save_pretrained(out)
    return out


BUILDERS = {
    "t5": build_t5,
    "bert": build_bert,
    "roberta": build_roberta,
    "gpt2": build_gpt2,
    "llama": build_llama,
}


def build_all(root: Path) -> dict[str, Path]:
    return {name: build(root / name) for name, build in BUILDERS.items()}
