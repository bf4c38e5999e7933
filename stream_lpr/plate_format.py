"""The Japanese plate grammar: the legal values of each field and how to pick the best legal
reading from per-field probabilities.

Facts come from ../shared/docs/plate_spec.md. The reader's output heads are indexed by the
vocabularies below, so their order is part of the weights file format: append, never reorder.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import numpy as np

# 138 region names, grouped by prefecture in the order of the spec's table.
REGIONS: tuple[str, ...] = tuple(
    """
    札幌 函館 旭川 室蘭 苫小牧 釧路 知床 帯広 十勝 北見
    青森 弘前 八戸 岩手 盛岡 平泉 宮城 仙台 秋田 山形 庄内
    福島 会津 郡山 白河 いわき 水戸 土浦 つくば 宇都宮 那須 とちぎ 日光
    群馬 前橋 高崎 大宮 川口 所沢 川越 熊谷 春日部 越谷
    千葉 成田 習志野 市川 船橋 袖ヶ浦 市原 野田 柏 松戸
    品川 世田谷 練馬 杉並 板橋 足立 江東 葛飾 江戸川 八王子 多摩
    横浜 川崎 湘南 相模 山梨 富士山 新潟 長岡 上越 富山 石川 金沢 福井
    長野 松本 諏訪 安曇野 南信州 岐阜 飛騨 静岡 浜松 沼津 伊豆
    名古屋 豊橋 三河 岡崎 豊田 尾張小牧 一宮 春日井 三重 鈴鹿 四日市 伊勢志摩
    滋賀 京都 大阪 なにわ 和泉 堺 神戸 姫路 奈良 飛鳥 和歌山 鳥取 島根 出雲
    岡山 倉敷 広島 福山 山口 下関 徳島 香川 高松 愛媛 高知
    福岡 北九州 久留米 筑豊 佐賀 長崎 佐世保 熊本 大分 宮崎 鹿児島 奄美 沖縄
    """.split()
)
REGION_ALIASES = {"袖ケ浦": "袖ヶ浦", "飛驒": "飛騨"}

CLASS_LETTERS = "ACFHKLMPXY"
# Per class-number position: "" means the position is empty (1- and 2-character numbers).
CLASS_CHARS: tuple[str, ...] = ("",) + tuple("0123456789") + tuple(CLASS_LETTERS)
CLASS_SLOTS = 3

HIRAGANA = "あいうえかきくけこさすせそたちつてとなにぬねのはひふほまみむめもやゆよらりるれろわを"
LATIN_KANA = "ABEHKMTY"
KANA: tuple[str, ...] = tuple(HIRAGANA + LATIN_KANA)
# Kana by plate use, for sampling plausible plates (the reader accepts any of KANA).
KANA_COMMERCIAL = "あいうえかきくけこを"
KANA_PRIVATE = "さすせそたちつてとなにぬねのはひふほまみむめもやゆらりるろ"
KANA_RENTAL = "われ"
KANA_KEI_COMMERCIAL = "りれ"
KANA_KEI_PRIVATE = "".join(k for k in HIRAGANA if k not in KANA_KEI_COMMERCIAL + "わ")

DOT = "・"
# Per designation slot: a leading dot or a digit.
NUMBER_CHARS: tuple[str, ...] = (DOT,) + tuple("0123456789")
NUMBER_SLOTS = 4

PLATE_TYPES: tuple[str, ...] = ("private", "kei", "commercial", "kei_commercial", "graphic")
UNKNOWN_TYPE = "unknown"
# How often each type is drawn in training (rare types weighted up so the reader learns them)
# and a rough estimate of how often each is seen on the road (white and yellow plates make up
# most cars; green, black and picture plates a few percent each). The reader's type
# probabilities carry the training shares; decode() re-weights them by the ratio (Bayes' rule
# for a changed prior), so a shaded white plate that the reader finds half "graphic" reads
# as the far commoner private plate, while a clear green, black or picture plate keeps its type.
TRAINING_TYPE_SHARE = (0.38, 0.22, 0.12, 0.12, 0.16)
ROAD_TYPE_SHARE = (0.50, 0.38, 0.05, 0.03, 0.04)
_TYPE_PRIOR = np.array(ROAD_TYPE_SHARE) / np.array(TRAINING_TYPE_SHARE)

CLASS_PATTERN = re.compile(r"^([0-9]|[0-9]{2}|[0-9][0-9ACFHKLMPXY]{2})$")
NUMBER_PATTERN = re.compile(r"^(・・・[1-9]|・・[1-9][0-9]|・[1-9][0-9]{2}|[1-9][0-9]-[0-9]{2})$")


@dataclass(frozen=True)
class PlateText:
    """One plate's four fields and type; `number` is in display form (`12-34`, `・123`)."""

    region: str
    class_number: str
    kana: str
    number: str
    plate_type: str = UNKNOWN_TYPE

    def __str__(self) -> str:
        return f"{self.region} {self.class_number} {self.kana} {self.number}"

    @property
    def key(self) -> str:
        """Canonical identity: the same vehicle gives the same key whatever the display form."""
        return f"{self.region}|{self.class_number}|{self.kana}|{number_value(self.number)}"


@dataclass(frozen=True)
class FieldScores:
    """Per-field probability distributions over the vocabularies above (the reader's output)."""

    region: np.ndarray  # (len(REGIONS),)
    class_number: np.ndarray  # (CLASS_SLOTS, len(CLASS_CHARS))
    kana: np.ndarray  # (len(KANA),)
    number: np.ndarray  # (NUMBER_SLOTS, len(NUMBER_CHARS))
    plate_type: np.ndarray  # (len(PLATE_TYPES),)


@dataclass(frozen=True)
class Reading:
    """The best legal plate for some FieldScores, with the probability of each chosen field."""

    text: PlateText
    region_conf: float
    class_conf: float
    kana_conf: float
    number_conf: float
    type_conf: float

    @property
    def confidence(self) -> float:
        """The weakest field: a plate is only as certain as its least certain part."""
        return min(self.region_conf, self.class_conf, self.kana_conf, self.number_conf)


def number_display(value: int) -> str:
    """1234 -> '12-34', 123 -> '・123', 12 -> '・・12', 1 -> '・・・1'."""
    if not 1 <= value <= 9999:
        raise ValueError(f"designation number must be 1-9999, got {value}")
    if value >= 1000:
        digits = str(value)
        return f"{digits[:2]}-{digits[2:]}"
    return DOT * (4 - len(str(value))) + str(value)


def number_from_text(token: str) -> str:
    """A designation number as people write it: bare digits (1234, 123) become the display form
    (12-34, ・123); anything else is returned as it is, for NUMBER_PATTERN to judge."""
    return number_display(int(token)) if re.fullmatch(r"[1-9][0-9]{0,3}", token) else token


def number_value(display: str) -> int:
    digits = "".join(ch for ch in display if ch.isdigit())
    return int(digits) if digits else 0


def number_slots(display: str) -> str:
    """The four slot characters of a display form: '12-34' -> '1234', '・・12' -> '・・12'."""
    return display.replace("-", "")


def normalize_text(text: str) -> str:
    """Folds full-width forms, hyphen and dot variants and region spelling variants."""
    text = unicodedata.normalize("NFKC", text)
    for dash in "－‐ーｰ–—":
        text = text.replace(dash, "-")
    for dot in "･·•":
        text = text.replace(dot, DOT)
    for alias, name in REGION_ALIASES.items():
        text = text.replace(alias, name)
    return text


def parse_plate(text: str, plate_type: str = UNKNOWN_TYPE) -> PlateText:
    """Parses the one-line form `品川 300 あ 12-34`; raises ValueError if it is not a legal plate."""
    parts = normalize_text(text).split()
    if len(parts) != 4:
        raise ValueError(f"expected 'region class kana number', got {text!r}")
    region, class_number, kana, number = parts
    plate = PlateText(region, class_number, kana, number_from_text(number), plate_type)
    problem = validate(plate)
    if problem:
        raise ValueError(f"{text!r}: {problem}")
    return plate


def validate(plate: PlateText) -> str | None:
    """Returns what is illegal about the plate, or None if every field is legal."""
    if plate.region not in REGIONS:
        return f"unknown region {plate.region!r}"
    if not CLASS_PATTERN.match(plate.class_number):
        return f"illegal class number {plate.class_number!r}"
    if plate.kana not in KANA:
        return f"illegal kana {plate.kana!r}"
    if not NUMBER_PATTERN.match(plate.number):
        return f"illegal designation number {plate.number!r}"
    if plate.plate_type not in PLATE_TYPES + (UNKNOWN_TYPE,):
        return f"unknown plate type {plate.plate_type!r}"
    return None


def class_indices(class_number: str) -> list[int]:
    """CLASS_CHARS index per class-number slot: '30A' -> [4, 1, 11], '5' -> [6, 0, 0]."""
    return [CLASS_CHARS.index(ch) for ch in list(class_number) + [""] * (CLASS_SLOTS - len(class_number))]


def number_indices(number: str) -> list[int]:
    """NUMBER_CHARS index per designation slot: '12-34' -> [2, 3, 4, 5], '・・12' -> [0, 0, 2, 3]."""
    return [NUMBER_CHARS.index(ch) for ch in number_slots(number)]


def encode(plate: PlateText) -> dict[str, list[int] | int]:
    """Class indices of each head for a plate: the reader's training targets."""
    return {
        "region": REGIONS.index(plate.region),
        "class_number": class_indices(plate.class_number),
        "kana": KANA.index(plate.kana),
        "number": number_indices(plate.number),
        "plate_type": PLATE_TYPES.index(plate.plate_type),
    }


@dataclass(frozen=True)
class FieldIndex:
    """Many plates' text fields as vocabulary indices, to score them all at once against one
    FieldScores (a watchlist against a voted plate); -1 marks a field any value matches."""

    region: np.ndarray  # (n,)
    class_number: np.ndarray  # (n, CLASS_SLOTS)
    kana: np.ndarray  # (n,)
    number: np.ndarray  # (n, NUMBER_SLOTS)

    @classmethod
    def of(cls, plates: list[tuple[str | None, str | None, str | None, str | None]]) -> FieldIndex:
        """From (region, class number, kana, number in display form) per plate; None: any value."""
        rows = list(plates)
        return cls(
            np.array([REGIONS.index(r) if r is not None else -1 for r, _, _, _ in rows], np.int64),
            np.array([class_indices(c) if c is not None else [-1] * CLASS_SLOTS for _, c, _, _ in rows],
                     np.int64).reshape(-1, CLASS_SLOTS),
            np.array([KANA.index(k) if k is not None else -1 for _, _, k, _ in rows], np.int64),
            np.array([number_indices(n) if n is not None else [-1] * NUMBER_SLOTS for _, _, _, n in rows],
                     np.int64).reshape(-1, NUMBER_SLOTS),
        )

    def probabilities(self, scores: FieldScores) -> dict[str, np.ndarray]:
        """Per field, the probability `scores` give each plate's value ((n,) each; 1 where any
        value matches). Multi-character fields multiply their slots' probabilities, as decode()
        does: the probability of a whole plate is the product of the four."""
        def slots(index: np.ndarray, dist: np.ndarray) -> np.ndarray:
            p = np.prod(dist[np.arange(index.shape[1]), np.maximum(index, 0)], axis=1)
            return np.where(index[:, 0] >= 0, p, 1.0)

        def single(index: np.ndarray, dist: np.ndarray) -> np.ndarray:
            return np.where(index >= 0, dist[np.maximum(index, 0)], 1.0)

        return {"region": single(self.region, np.asarray(scores.region, np.float64)),
                "class_number": slots(self.class_number, np.asarray(scores.class_number, np.float64)),
                "kana": single(self.kana, np.asarray(scores.kana, np.float64)),
                "number": slots(self.number, np.asarray(scores.number, np.float64))}


_DIGITS = np.arange(1, 11)  # indices of 0-9 in CLASS_CHARS and NUMBER_CHARS
_NONZERO = np.arange(2, 11)  # indices of 1-9
_LETTER_OR_DIGIT = np.arange(1, len(CLASS_CHARS))


def _best(probs: np.ndarray, allowed: np.ndarray) -> tuple[int, float]:
    i = int(allowed[np.argmax(probs[allowed])])
    return i, float(probs[i])


def _decode_class(p: np.ndarray) -> tuple[str, float]:
    """Best of the three legal shapes: 'd', 'dd', 'd[d|L][d|L]'."""
    first, p1 = _best(p[0], _DIGITS)
    candidates = []
    candidates.append((CLASS_CHARS[first], p1 * p[1, 0] * p[2, 0]))
    second, p2 = _best(p[1], _DIGITS)
    candidates.append((CLASS_CHARS[first] + CLASS_CHARS[second], p1 * p2 * p[2, 0]))
    second, p2 = _best(p[1], _LETTER_OR_DIGIT)
    third, p3 = _best(p[2], _LETTER_OR_DIGIT)
    candidates.append((CLASS_CHARS[first] + CLASS_CHARS[second] + CLASS_CHARS[third], p1 * p2 * p3))
    text, score = max(candidates, key=lambda c: c[1])
    return text, float(score)


def _decode_number(p: np.ndarray) -> tuple[str, float]:
    """Best of: k leading dots (k = 0..3), then a non-zero digit, then any digits."""
    best_text, best_score = "", -1.0
    for dots in range(NUMBER_SLOTS):
        score = float(np.prod(p[:dots, 0]))
        lead, p_lead = _best(p[dots], _NONZERO)
        chars = [DOT] * dots + [NUMBER_CHARS[lead]]
        score *= p_lead
        for slot in range(dots + 1, NUMBER_SLOTS):
            digit, p_digit = _best(p[slot], _DIGITS)
            chars.append(NUMBER_CHARS[digit])
            score *= p_digit
        if score > best_score:
            best_text, best_score = "".join(chars), score
    if DOT not in best_text:
        best_text = f"{best_text[:2]}-{best_text[2:]}"
    return best_text, best_score


def decode(scores: FieldScores) -> Reading:
    """The most probable legal plate under independent per-slot probabilities."""
    region = int(np.argmax(scores.region))
    kana = int(np.argmax(scores.kana))
    types = scores.plate_type * _TYPE_PRIOR
    types = types / max(float(types.sum()), 1e-12)
    plate_type = int(np.argmax(types))
    class_number, class_conf = _decode_class(scores.class_number)
    number, number_conf = _decode_number(scores.number)
    text = PlateText(REGIONS[region], class_number, KANA[kana], number, PLATE_TYPES[plate_type])
    return Reading(
        text=text,
        region_conf=float(scores.region[region]),
        class_conf=class_conf,
        kana_conf=float(scores.kana[kana]),
        number_conf=number_conf,
        type_conf=float(types[plate_type]),
    )
