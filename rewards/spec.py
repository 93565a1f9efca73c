"""Reward specs: the grammar, the presets (text and image) and the bounds on weights.

A reward spec names weighted components, e.g. ``"quality+creativity"``, ``"relevance:1.0,distinct-2:0.5"``,
``"creativity+self-bleu:0.5+relevance:0.5"`` or ``"my_pkg.rewards:shouting:0.5+relevance"``.

Grammar::

    spec    := item (("+" | ",") item)*
    item    := name [":" weight]
    name    := reward | preset | path
    reward  := a registered reward or entry-point name, e.g. "distinct-2" (contains no ":")
    preset  := "quality" | "creativity" | "safety"          (see PRESETS / IMAGE_PRESETS)
    path    := module ":" attribute                        e.g. "my_pkg.rewards:Shouting"
    module  := identifier ("." identifier)*
    attribute := identifier ("." identifier)*
    weight  := ["-"] digits ["." digits] [("e" | "E") ["+" | "-"] digits]      e.g. 0.5, 2, -1, 1e-3, 1e+06

How a ``:`` is read: the text after an item's **last** ``:`` is its weight when it is a number. A Python
identifier never starts with a digit, so an attribute is never a number and a weight is never an attribute:
``pkg.mod:factory`` is a path with weight 1, ``pkg.mod:factory:0.5`` the same path with weight 0.5,
``relevance:2`` the reward ``relevance`` with weight 2. An item whose last part is not a number is a path
only when its module contains a dot (``pkg.module:factory``); anything else (``quality:x``) is a bad weight.
A top-level module (no dot) is written with an explicit weight: ``my_module:factory:1``. A ``+`` right after
a number's ``e`` is the exponent's sign (``relevance:1e+06``), not a separator.

Weights must be finite, at most :data:`MAX_WEIGHT` in absolute value, and not all zero. The bound: rewards
are summed in float32 by TRL (largest value about 3.4e38), and no weight is needed beyond putting components
of different scales on a par (the widest built-in scales differ by a few orders of magnitude: readability
~100 vs distinct-n ~0.5); with ``|w| <= 1e6`` a weighted value overflows only for a raw value above 3e32,
which no reward returns, while ``1e308`` made every weighted value ``inf``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

__all__ = [
    "PRESETS",
    "IMAGE_PRESETS",
    "IMAGE_DEFAULT_SPEC",
    "MAX_WEIGHT",
    "parse_spec",
    "parse_items",
    "image_reward_pairs",
    "is_dotted_path",
    "check_weights",
    "describe",
]

#: Text preset name -> [(component name, weight)]. Weights put components on comparable scales: relevance
#: and distinct-n live in [0, 1]; fluency is in nats/token (typically -1 to -4), hence its small weight.
PRESETS: dict[str, list[tuple[str, float]]] = {
    "quality": [("relevance", 1.0), ("fluency", 0.1)],
    "creativity": [("distinct-2", 0.5)],
    "safety": [("harm", 1.0)],
}

#: Image meaning of the preset names (``--reward quality+creativity`` on the image env). There is no image
#: safety reward, so ``safety`` has no image meaning.
IMAGE_PRESETS: dict[str, list[tuple[str, float]]] = {
    "quality": [("target-class", 1.0), ("realism", 5.0)],
    "creativity": [("image-diversity", 3.0)],
}

#: The image env's default reward: ``quality+creativity`` with the image presets, written out.
IMAGE_DEFAULT_SPEC = "target-class:1+realism:5+image-diversity:3"

#: Largest absolute weight of a spec item (see the module docstring for the reason).
MAX_WEIGHT = 1e6

_NUMBER = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")
_IDENTS = r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*"
_PATH = re.compile(rf"(?P<module>{_IDENTS}):(?P<attr>{_IDENTS})")
_OPEN_EXPONENT = re.compile(r":\s*-?(?:\d+(?:\.\d*)?|\.\d+)[eE]\s*$")  # "name:1e" before "+06"

_EXAMPLES = "e.g. 'quality+creativity', 'relevance:1.0,distinct-2:0.5' or 'my_pkg.rewards:factory:0.5'"


def is_dotted_path(name: str) -> bool:
    """True when ``name`` is a reward given as ``module:attribute`` (``"my_pkg.rewards:Shouting"``)."""
    return _PATH.fullmatch(name) is not None


def _split(spec: str) -> list[str]:
    parts = re.split(r"([+,])", spec)
    items = [parts[0]]
    for sep, part in zip(parts[1::2], parts[2::2], strict=True):
        if sep == "+" and _OPEN_EXPONENT.search(items[-1]) and re.match(r"\s*\d", part):
            items[-1] += sep + part  # the exponent's sign, as in "1e+06"
        else:
            items.append(part)
    return items


def _number(text: str, name: str, spec: str) -> float:
    t = text.strip()
    if not _NUMBER.fullmatch(t):
        if t.lower().lstrip("-") in ("inf", "infinity", "nan"):
            raise ValueError(f"weight of {name!r} in reward spec {spec!r} must be a finite number, got {t!r}")
        raise ValueError(
            f"weight {t!r} of {name!r} in reward spec {spec!r} is not a number; write name:weight, "
            "e.g. 'relevance:0.5' (a dotted-path reward is 'pkg.module:factory', with a dot in the module)"
        )
    w = float(t)
    if not math.isfinite(w):
        raise ValueError(f"weight of {name!r} in reward spec {spec!r} must be finite, got {t!r}")
    if abs(w) > MAX_WEIGHT:
        raise ValueError(
            f"weight {t} of {name!r} in reward spec {spec!r} is too large: |weight| must be <= {MAX_WEIGHT:g} "
            "(weighted rewards would overflow to inf)"
        )
    return w


def _item(item: str, spec: str) -> tuple[str, float]:
    text = item.strip()
    if not text:
        raise ValueError(f"empty item in reward spec {spec!r}; {_EXAMPLES}")
    head, colon, tail = text.rpartition(":")
    if not colon:
        return text, 1.0
    head, tail = head.strip(), tail.strip()
    if _NUMBER.fullmatch(tail) or (":" not in head and "." not in head):
        name, weight = head, _number(tail, head, spec)
    else:
        name, weight = text, 1.0  # "pkg.module:factory" (no weight)
    if not name:
        raise ValueError(f"item {text!r} of reward spec {spec!r} has a weight but no name; {_EXAMPLES}")
    if ":" in name and not is_dotted_path(name):
        raise ValueError(
            f"{name!r} in reward spec {spec!r} is not a reward name or a dotted path 'pkg.module:factory'; "
            f"{_EXAMPLES}"
        )
    return name, weight


def parse_items(spec: str) -> list[tuple[str, float]]:
    """Split a spec into its items ``[(name, weight)]``, presets not expanded (see the module docstring).

    Raises:
        ValueError: empty spec or item, a weight that is not a finite number or is above :data:`MAX_WEIGHT`,
            a ``:`` that is neither a weight nor part of a dotted path.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"empty reward spec; {_EXAMPLES}")
    return [_item(i, spec) for i in _split(spec)]


def check_weights(pairs: Sequence[tuple[str, float]], where: str) -> None:
    """Refuse weights that are not finite, larger than :data:`MAX_WEIGHT` or all zero.

    Args:
        pairs: ``[(component name, weight)]``.
        where: Names the spec in the message, e.g. ``"reward spec 'relevance:0'"``.

    Raises:
        ValueError: naming the component and the bound.
    """
    for name, w in pairs:
        if not isinstance(w, (int, float)) or isinstance(w, bool) or not math.isfinite(w):
            raise ValueError(f"weight of {name!r} in {where} must be a finite number, got {w!r}")
        if abs(w) > MAX_WEIGHT:
            raise ValueError(
                f"weight {w:g} of {name!r} in {where} is too large: |weight| must be <= {MAX_WEIGHT:g} "
                "(weighted rewards would overflow to inf)"
            )
    if pairs and all(w == 0 for _, w in pairs):
        raise ValueError(
            f"every weight in {where} is 0, so training would optimise nothing; give a component a "
            "non-zero weight"
        )


def parse_spec(
    spec: str, presets: Mapping[str, Sequence[tuple[str, float]]] | None = None
) -> list[tuple[str, float]]:
    """Parse a reward spec into ``[(component name, weight)]`` with presets expanded.

    Grammar (see the module docstring): items separated by ``+`` or ``,``; an item is ``name`` or
    ``name:weight``; ``name`` is a reward, a preset or a dotted path ``pkg.module:factory``; the text after an
    item's last ``:`` is its weight when it is a number (an identifier never is). A preset expands into its
    components, their weights multiplied by the item's weight.

    Args:
        spec: E.g. ``"quality+creativity"``, ``"relevance:1.0,distinct-2:0.5"``,
            ``"creativity+self-bleu:0.5+relevance:0.5"``, ``"my_pkg.rewards:factory:0.5+relevance"``.
        presets: Preset name -> components; default :data:`PRESETS` (text). Image specs pass
            :data:`IMAGE_PRESETS` (see :func:`image_reward_pairs`).

    Returns:
        ``[(name, weight)]`` in spec order, each name once.

    Raises:
        ValueError: empty spec or item; a weight that is not a number, not finite or above :data:`MAX_WEIGHT`
            in absolute value; all weights 0; a component named twice.
    """
    presets = PRESETS if presets is None else presets
    out: dict[str, float] = {}
    for name, weight in parse_items(spec):
        parts = [(c, cw * weight) for c, cw in presets[name]] if name in presets else [(name, weight)]
        for c, cw in parts:
            if c in out:
                raise ValueError(f"reward {c!r} appears twice in spec {spec!r}")
            out[c] = cw
    pairs = list(out.items())
    check_weights(pairs, f"reward spec {spec!r}")
    return pairs


def image_reward_pairs(spec: str | None) -> list[tuple[str, float]]:
    """``[(component, weight)]`` for an image reward spec; ``quality`` / ``creativity`` mean their image versions.

    ``None`` gives :data:`IMAGE_DEFAULT_SPEC` (the image env's default reward).

    Raises:
        ValueError: as :func:`parse_spec`, or a text preset without an image meaning (``safety``: no image
            safety reward exists).
    """
    spec = IMAGE_DEFAULT_SPEC if spec is None else spec
    text_only = [n for n, _ in parse_items(spec) if n in PRESETS and n not in IMAGE_PRESETS]
    if text_only:
        raise ValueError(
            f"the {text_only[0]!r} preset has no image reward; use {', '.join(_image_reward_names())}"
        )
    return parse_spec(spec, presets=IMAGE_PRESETS)


def _image_reward_names() -> list[str]:
    from ._builtin import IMAGE_REWARDS

    return list(IMAGE_REWARDS)


def describe() -> Iterator[dict[str, Any]]:
    """What ``aigc-rl rewards`` prints: one strict-JSON dict per reward (sorted by name, entry points
    included), then one per preset (this module).

    A reward whose metadata cannot be read without arguments gives ``{"name", "note"}``. No value is
    ``NaN``/``inf``: ``json.dumps(d, allow_nan=False)`` works for every dict.
    """
    from .registry import names, reward_info

    for n in names():
        try:
            yield reward_info(n).to_json()
        except Exception as e:  # a third-party reward that needs arguments to build
            yield {"name": n, "note": f"needs arguments: {e}"}
    for modality, presets in (("text", PRESETS), ("image", IMAGE_PRESETS)):
        for k, v in presets.items():
            yield {"preset": k, "modality": modality, "components": [[c, w] for c, w in v]}
