from __future__ import annotations

import torch
from torch import nn

from minituner.evaluate import generate
from minituner.model import MiniGPT, parameter_inventory

EXPECTED_NAMES = (
    ["tok_emb"]
    + [
        f"blocks.{i}.{n}"
        for i in (0, 1)
        for n in (
            "ln1",
            "attn.q_proj",
            "attn.k_proj",
            "attn.v_proj",
            "attn.o_proj",
            "ln2",
            "mlp.fc1",
            "mlp.fc2",
        )
    ]
    + ["ln_f"]
)


def test_module_names_are_the_course_names() -> None:
    names = [
        n for n, m in MiniGPT().named_modules() if isinstance(m, nn.Linear | nn.Embedding | nn.LayerNorm)
    ]
    assert names == EXPECTED_NAMES


def test_parameter_inventory_adds_up() -> None:
    model = MiniGPT()
    inventory = parameter_inventory(model)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 12
    assert sum(m.weight.numel() for m in linears) == 98_304
    assert sum(m.bias.numel() for m in linears if m.bias is not None) == 640
    assert sum(c for n, _, c in inventory if n.startswith("tok_emb")) == 4096
    assert sum(c for n, _, c in inventory if ".ln" in n or n.startswith("ln_f")) == 640
    assert sum(c for *_, c in inventory) == 103_680
    assert all(m.bias is None for n, m in model.named_modules() if n.endswith("_proj"))


def test_head_is_tied_to_the_embedding() -> None:
    model = MiniGPT()
    assert "lm_head" not in dict(model.named_modules())
    assert len(model.state_dict()) == len(list(model.parameters()))  # no buffers saved


def test_attention_is_causal() -> None:
    model = MiniGPT().eval()
    a = torch.randint(1, 64, (1, 12))
    b = a.clone()
    b[0, 8:] = (b[0, 8:] + 1) % 64
    torch.testing.assert_close(model(a)[:, :8], model(b)[:, :8])


def test_batched_greedy_decoding_matches_one_at_a_time() -> None:
    model = MiniGPT().eval()
    prompts = ["ser P1=", "hablar T3=", "tener F2="]
    batched = generate(model, prompts, max_new_tokens=6)
    single = [generate(model, [p], max_new_tokens=6)[0] for p in prompts]
    assert batched == single


def test_one_pass_accuracy_equals_greedy_decoding() -> None:
    from minituner.checkpoint import load_base
    from minituner.evaluate import correct, predict
    from minituner.grammar import make_splits

    base, splits = load_base(), make_splits()
    examples = splits.irregular + splits.heldout[:300]
    greedy = [a == e.answer for a, e in zip(predict(base, examples), examples, strict=True)]
    assert correct(base, examples) == greedy
    assert 0 < sum(greedy) < len(greedy)  # both kinds of cell are present


def test_the_answers_do_not_depend_on_the_batch_size() -> None:
    """evaluate.BATCH_SIZE is a matter of time and memory: scored in batches of 1024 or of 37, the
    held-out cells get the same verdicts and the same predictions."""
    from minituner.checkpoint import load_base
    from minituner.evaluate import BATCH_SIZE, correct, predict
    from minituner.grammar import make_splits

    base, examples = load_base(), make_splits().heldout
    assert len(examples) > BATCH_SIZE  # more than one batch at the default size
    assert correct(base, examples) == correct(base, examples, batch_size=37)
    assert predict(base, examples) == predict(base, examples, batch_size=37)
