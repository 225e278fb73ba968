"""Structural presets of the synthetic generator: one per real dataset, plus the recipe grammar.

A preset holds summary parameters of a real dataset's labels (class names, video lengths,
segment-length distributions, background share, recipes, subjects and splits), never its data.
The GTEA numbers were fitted to the standard release's 28 label files (segment lengths per class,
background gaps), the EGTEA ones to its public segment annotations (segment lengths, gaps, verb
frequencies); Breakfast and 50Salads follow their published statistics (video length, segments
per video, SIL share).

Recipes are written in a small grammar whose samples are action sequences::

    take open (scoop pour)+ close put?     a sequence; (...) groups
    x?   optional (kept with probability p_optional)
    x+   one or more (each extra repeat with probability p_repeat, at most 4 in all)
    x*   zero or more
    (a b | c)   one of the alternatives, uniformly
    {x y z}     the items x, y, z in a random order (per video)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

Duration = tuple[float, float]
"""A log-normal segment length: (median frames at scale 1, standard deviation of the log)."""

MAX_REPEATS = 4

# --------------------------------------------------------------------------- grammar

_TOKEN = re.compile(r"[(){}|?+*]|[^\s(){}|?+*]+")


@dataclass(frozen=True)
class _Node:
    kind: str  # "name" | "seq" | "alt" | "shuffle" | "?" | "+" | "*"
    name: str = ""
    children: tuple[_Node, ...] = ()


class Grammar:
    """A parsed recipe; :meth:`sample` draws one action sequence from it."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._tokens = _TOKEN.findall(text)
        self._pos = 0
        self.root = self._alternatives(end=None)
        self.names = frozenset(self._names(self.root))

    def sample(self, rng: np.random.Generator, p_optional: float, p_repeat: float) -> list[str]:
        out: list[str] = []
        self._sample(self.root, rng, p_optional, p_repeat, out)
        return out

    # recursive-descent parser: alternatives := seq ('|' seq)*; seq := (atom suffix?)*
    def _alternatives(self, end: str | None) -> _Node:
        options = [self._sequence(end)]
        while self._peek() == "|":
            self._pos += 1
            options.append(self._sequence(end))
        if self._peek() != end:
            raise ValueError(f"recipe {self.text!r}: expected {end or 'end'}, got {self._peek()!r}")
        return options[0] if len(options) == 1 else _Node("alt", children=tuple(options))

    def _sequence(self, end: str | None) -> _Node:
        items: list[_Node] = []
        while self._peek() not in (end, "|", None):
            items.append(self._item())
        return _Node("seq", children=tuple(items))

    def _item(self) -> _Node:
        tok = self._next()
        if tok == "(":
            atom = self._alternatives(end=")")
            self._pos += 1
        elif tok == "{":
            atom = _Node("shuffle", children=self._sequence(end="}").children)
            if self._next() != "}":
                raise ValueError(f"recipe {self.text!r}: unclosed '{{'")
        elif tok is None or tok in ")}|?+*":
            raise ValueError(f"recipe {self.text!r}: unexpected {tok!r}")
        else:
            atom = _Node("name", name=tok)
        if self._peek() in ("?", "+", "*"):
            atom = _Node(self._next() or "", children=(atom,))
        return atom

    def _peek(self) -> str | None:
        return self._tokens[self._pos] if self._pos < len(self._tokens) else None

    def _next(self) -> str | None:
        tok = self._peek()
        self._pos += 1
        return tok

    def _names(self, node: _Node) -> list[str]:
        if node.kind == "name":
            return [node.name]
        return [name for child in node.children for name in self._names(child)]

    def _sample(
        self, node: _Node, rng: np.random.Generator, p_opt: float, p_rep: float, out: list[str]
    ) -> None:
        match node.kind:
            case "name":
                out.append(node.name)
            case "seq":
                for child in node.children:
                    self._sample(child, rng, p_opt, p_rep, out)
            case "alt":
                self._sample(
                    node.children[rng.integers(len(node.children))], rng, p_opt, p_rep, out
                )
            case "shuffle":
                for i in rng.permutation(len(node.children)):
                    self._sample(node.children[i], rng, p_opt, p_rep, out)
            case "?" | "+" | "*":
                n = 1 if node.kind == "+" else 0
                if node.kind != "+":
                    n += int(rng.random() < (p_opt if node.kind == "?" else p_rep))
                while node.kind != "?" and n >= 1 and n < MAX_REPEATS and rng.random() < p_rep:
                    n += 1
                for _ in range(n):
                    self._sample(node.children[0], rng, p_opt, p_rep, out)


# --------------------------------------------------------------------------- presets


def _names(text: str) -> tuple[str, ...]:
    return tuple(text.split())


@dataclass(frozen=True)
class Preset:
    """The label structure of one real dataset (all lengths in frames at ``scale=1``)."""

    name: str
    classes: tuple[str, ...]
    """Class names in mapping.txt order."""
    background: tuple[str, ...]
    """Classes the standard protocol drops from the segmental metrics."""
    fps: int
    """Frame rate of the labels (and of rendered videos)."""
    recipes: Mapping[str, str]
    """Task name -> grammar of its action sequence (see the module docstring)."""
    durations: Mapping[str, Duration]
    """Per-class segment length; classes not listed use ``default_duration``."""
    default_duration: Duration
    filler: str | None
    """Class that fills the gaps between actions and the start and end of a video (or None)."""
    gap_p: float
    """Probability of a filler gap between two consecutive actions (always between equal ones)."""
    gap_duration: Duration
    filler_blend: float
    """How much filler segments look like a random action (unannotated activity), in [0, 1]."""
    start_duration: Duration
    end_duration: Duration
    speed_sd: float
    """Log-sd of a per-video speed factor multiplying all of its segment lengths."""
    num_videos: int
    num_subjects: int
    subject_offset: int
    """Number of the first subject in video names (Breakfast starts at P03)."""
    video_name: str
    """Format of video names with fields s (subject number), task and take."""
    num_folds: int
    """Subjects are put into folds by subject % num_folds; split N tests fold N-1."""
    num_splits: int
    confusable: tuple[tuple[str, ...], ...]
    """Groups of classes whose prototypes (and visuals) are close together."""
    order_only: tuple[tuple[str, ...], ...]
    """Groups that look identical; only what precedes them in the recipe tells them apart."""
    target_length: Duration | None = None
    """If set, the recipe is repeated until the video reaches a length drawn from this."""
    p_optional: float = 0.6
    p_repeat: float = 0.35
    grammars: Mapping[str, Grammar] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        grammars = {task: Grammar(text) for task, text in self.recipes.items()}
        known = set(self.classes)
        for task, g in grammars.items():
            unknown = sorted(g.names - known)
            if unknown:
                raise ValueError(f"preset {self.name}: recipe {task} uses unknown {unknown}")
        for group in (*self.confusable, *self.order_only, tuple(self.durations)):
            if not set(group) <= known:
                raise ValueError(f"preset {self.name}: unknown classes in {group}")
        object.__setattr__(self, "grammars", grammars)

    def duration(self, name: str) -> Duration:
        return self.durations.get(name, self.default_duration)


GTEA = Preset(
    name="gtea",
    classes=(
        *("take", "open", "pour", "close", "shake", "scoop", "stir", "put", "fold", "spread"),
        "background",
    ),
    background=("background",),
    fps=15,
    # Per-task orders summarised from the real sequences: "close" always follows pour/scoop/spread,
    # "open" follows take/put; this is what tells the identical-looking open/close apart.
    recipes={
        "Cheese": "take take open put (take open pour+ close put)+ take put",
        "CofHoney": "take take open take (scoop pour)+ close put (take open pour+ close put)+ stir",
        "Coffee": "take take open take (scoop pour)+ close put take open (scoop pour)+ close put "
        "(take open pour+ close put)? stir",
        "Hotdog": "take take put (take open pour close put)+ fold",
        "Pealate": "take take open take scoop spread+ close put "
        "(take open scoop spread+ close put)? take open pour close put take put",
        "Peanut": "take take open take scoop spread+ close put take open pour+ close put take put",
        "Tea": "take take open pour close put take put open shake take "
        "(take open (scoop pour)+ close put)? stir",
    },
    # log-normal fits (median, log-sd) of the real per-class segment lengths
    durations={
        "take": (30, 0.5),
        "open": (35, 0.53),
        "pour": (38, 1.1),
        "close": (24, 0.6),
        "shake": (255, 0.5),
        "scoop": (31, 0.4),
        "stir": (73, 0.8),
        "put": (23, 0.5),
        "fold": (63, 0.3),
        "spread": (107, 0.6),
    },
    default_duration=(30, 0.5),
    filler="background",
    gap_p=0.68,
    gap_duration=(8, 1.09),
    filler_blend=0.0,
    start_duration=(16, 0.28),
    end_duration=(27, 1.5),
    speed_sd=0.15,
    num_videos=28,
    num_subjects=4,
    subject_offset=1,
    video_name="S{s}_{task}_C{take}",
    num_folds=4,
    num_splits=4,
    confusable=(("take", "put"), ("pour", "scoop"), ("stir", "spread")),
    order_only=(("open", "close"),),
    p_optional=0.7,
    p_repeat=0.4,
)

_SALAD_VEG = ("cucumber", "tomato", "cheese", "lettuce")
SALADS = Preset(
    name="salads",
    classes=_names(
        "cut_tomato place_tomato_into_bowl cut_cheese place_cheese_into_bowl cut_lettuce "
        "place_lettuce_into_bowl add_salt add_vinegar add_oil add_pepper mix_dressing "
        "peel_cucumber cut_cucumber place_cucumber_into_bowl add_dressing mix_ingredients "
        "serve_salad_onto_plate action_start action_end"
    ),
    background=(),
    fps=30,
    # Subjects prepared the ingredients and the dressing in varying orders (50Salads protocol).
    recipes={
        "salad": "action_start {(peel_cucumber? (cut_cucumber place_cucumber_into_bowl)+) "
        + " ".join(f"(cut_{v} place_{v}_into_bowl)+" for v in _SALAD_VEG[1:])
        + " ({add_oil add_vinegar (add_salt add_pepper)} mix_dressing)} "
        "add_dressing? mix_ingredients serve_salad_onto_plate action_end",
    },
    durations={
        **{f"cut_{v}": (850.0, 0.5) for v in _SALAD_VEG},
        **{f"place_{v}_into_bowl": (230.0, 0.5) for v in _SALAD_VEG},
        "peel_cucumber": (850, 0.4),
        "mix_dressing": (380, 0.5),
        "mix_ingredients": (600, 0.5),
        "serve_salad_onto_plate": (650, 0.4),
        "add_dressing": (300, 0.5),
        "action_start": (260, 0.6),
        "action_end": (380, 0.6),
    },
    default_duration=(260, 0.5),
    filler=None,
    gap_p=0.0,
    gap_duration=(1, 0),
    filler_blend=0.0,
    start_duration=(1, 0),
    end_duration=(1, 0),
    speed_sd=0.15,
    num_videos=50,
    num_subjects=25,
    subject_offset=1,
    video_name="rgb-{s:02d}-{take}",
    num_folds=5,
    num_splits=5,
    confusable=(
        tuple(f"cut_{v}" for v in _SALAD_VEG),
        ("add_salt", "add_pepper"),
        ("add_oil", "add_vinegar"),
        ("mix_dressing", "mix_ingredients"),
    ),
    order_only=(tuple(f"place_{v}_into_bowl" for v in _SALAD_VEG),),
)

BREAKFAST = Preset(
    name="breakfast",
    classes=_names(
        "SIL pour_cereals pour_milk stir_cereals take_bowl pour_coffee take_cup spoon_sugar "
        "stir_coffee pour_sugar pour_oil crack_egg add_saltnpepper fry_egg take_plate "
        "put_egg2plate take_eggs butter_pan take_knife cut_orange squeeze_orange pour_juice "
        "take_glass take_squeezer spoon_powder stir_milk spoon_flour stir_dough pour_dough2pan "
        "fry_pancake put_pancake2plate pour_flour cut_fruit put_fruit2bowl peel_fruit stir_fruit "
        "cut_bun smear_butter take_topping put_toppingOnTop put_bunTogether take_butter stir_egg "
        "pour_egg2pan stirfry_egg add_teabag pour_water stir_tea"
    ),
    background=(),
    fps=15,
    recipes={
        "coffee": "take_cup pour_coffee (spoon_sugar | pour_sugar)? pour_milk? stir_coffee?",
        "cereals": "take_bowl? pour_cereals pour_milk stir_cereals?",
        "tea": "take_cup? add_teabag pour_water (spoon_sugar | pour_sugar)? stir_tea?",
        "milk": "take_cup spoon_powder pour_milk stir_milk",
        "juice": "take_squeezer? take_knife? (cut_orange squeeze_orange)+ take_glass? pour_juice",
        "sandwich": "take_knife? cut_bun take_butter? smear_butter take_topping put_toppingOnTop "
        "put_bunTogether",
        "scrambledegg": "(pour_oil | butter_pan) take_eggs? crack_egg stir_egg? pour_egg2pan "
        "stirfry_egg add_saltnpepper? take_plate? put_egg2plate",
        "friedegg": "(pour_oil | butter_pan) take_eggs? crack_egg fry_egg add_saltnpepper? "
        "take_plate? put_egg2plate",
        "salat": "take_knife? (peel_fruit? cut_fruit put_fruit2bowl)+ stir_fruit?",
        "pancake": "take_bowl? (spoon_flour | pour_flour) crack_egg pour_milk stir_dough "
        "pour_oil? pour_dough2pan fry_pancake put_pancake2plate",
    },
    durations={
        **{c: (90.0, 0.6) for c in ("take_bowl", "take_cup", "take_plate", "take_knife")},
        **{c: (90.0, 0.6) for c in ("take_eggs", "take_glass", "take_squeezer", "take_butter")},
        "take_topping": (120, 0.6),
        "fry_egg": (900, 0.6),
        "fry_pancake": (1200, 0.6),
        "stirfry_egg": (900, 0.6),
        "cut_fruit": (500, 0.6),
        "peel_fruit": (450, 0.6),
        "squeeze_orange": (500, 0.6),
        "smear_butter": (450, 0.6),
        "stir_dough": (600, 0.6),
    },
    default_duration=(220, 0.7),
    filler="SIL",
    gap_p=0.0,
    gap_duration=(1, 0),
    filler_blend=0.0,
    start_duration=(110, 0.7),
    end_duration=(110, 0.7),
    speed_sd=0.25,
    num_videos=1712,
    num_subjects=52,
    subject_offset=3,
    video_name="P{s:02d}_cam{take:02d}_P{s:02d}_{task}",
    num_folds=4,
    num_splits=4,
    confusable=(
        ("take_bowl", "take_cup", "take_glass", "take_plate"),
        ("pour_milk", "pour_water", "pour_juice", "pour_coffee"),
        ("spoon_sugar", "spoon_powder", "spoon_flour"),
        ("cut_orange", "cut_fruit", "cut_bun"),
        ("fry_egg", "stirfry_egg", "fry_pancake"),
        ("stir_coffee", "stir_tea", "stir_milk", "stir_cereals"),
    ),
    # Batter follows stir_dough/pour_oil, egg follows crack_egg/stir_egg; the pancake is put on
    # the plate right after fry_pancake, the egg after frying, seasoning or take_plate.
    order_only=(("pour_dough2pan", "pour_egg2pan"), ("put_egg2plate", "put_pancake2plate")),
)

# EGTEA Gaze+ verbs with the ids and names of its action annotations (spaces as "_", as
# svtas_ray.data.egtea writes them); "None" (id 19) is the background of the unannotated gaps.
_EGTEA_VERBS = _names(
    "Inspect/Read Open Take Cut Turn_on Put Operate Close Move_Around Wash Spread Turn_off "
    "Divide/Pull_Apart Clean/Wipe Mix Pour Compress Crack Squeeze"
)
# Recipe bodies are repeated until the video is long enough. "Close" only ever follows "Take"
# (fridge: Open Take+ Close) and "Turn_off" only follows "Wash": the order-only pairs.
_EGTEA_BODY = (
    "Inspect/Read? (Open Take+ Close)? (Turn_on? Wash+ Turn_off)? (Take Cut+ Put) Move_Around? "
    "({extra})? Put?"
)
EGTEA = Preset(
    name="egtea",
    classes=(*_EGTEA_VERBS, "None"),
    background=("None",),
    fps=24,
    recipes={
        task: _EGTEA_BODY.format(extra=extra)
        for task, extra in {
            "PastaSalad": "Take Mix Put | Pour | Take Cut+ Put | Operate",
            "BaconAndEggs": "Crack | Take Pour | Operate | Mix",
            "TurkeySandwich": "Take Spread Put | Divide/Pull_Apart | Compress | Take Put",
            "ContinentalBreakfast": "Take Spread Put | Pour | Squeeze | Operate",
            "GreekSalad": "Take Mix Put | Take Cut+ Put | Clean/Wipe | Squeeze",
            "Cheeseburger": "Divide/Pull_Apart | Compress | Operate | Take Spread Put",
            "Pizza": "Take Spread Put | Divide/Pull_Apart | Operate | Clean/Wipe",
        }.items()
    },
    durations={
        "Inspect/Read": (90, 0.8),
        "Cut": (110, 0.8),
        "Wash": (95, 0.8),
        "Take": (45, 0.6),
        "Put": (45, 0.6),
        "Open": (45, 0.6),
        "Close": (35, 0.6),
        "Move_Around": (90, 0.8),
        "Mix": (110, 0.8),
    },
    default_duration=(60, 0.8),
    filler="None",
    gap_p=0.8,
    gap_duration=(65, 1.5),
    # Unannotated gaps are not idle hands: they look much like some action, as in the real data.
    filler_blend=0.7,
    start_duration=(200, 1.0),
    end_duration=(200, 1.0),
    speed_sd=0.15,
    num_videos=86,
    num_subjects=32,
    subject_offset=1,
    video_name="P{s:02d}-R{take:02d}-{task}",
    num_folds=4,
    num_splits=3,
    confusable=(
        ("Take", "Put"),
        ("Cut", "Divide/Pull_Apart"),
        ("Mix", "Spread"),
        ("Pour", "Squeeze"),
        ("Wash", "Clean/Wipe"),
    ),
    order_only=(("Open", "Close"), ("Turn_on", "Turn_off")),
    target_length=(28000, 0.5),
)

PRESETS: dict[str, Preset] = {p.name: p for p in (GTEA, SALADS, BREAKFAST, EGTEA)}
