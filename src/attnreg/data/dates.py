"""A synthetic translation task that needs alignment: dates in human formats -> ISO ``YYYY-MM-DD``.

"Tuesday, 5 March 2019", "03/05/19" and "March 5, 2019" all translate to "2019-03-05". The day,
the month and the year sit at different places in different formats, so a model must learn where
to look for each output character: what attention provides. Everything is generated in code
(English names written out here, never taken from the locale), so the data are the same on every
machine. Two-digit years follow a pivot: 50-99 are 1950-1999, 00-49 are 2000-2049.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from .._validation import check_int

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
FIRST_DATE = datetime.date(1950, 1, 1)
LAST_DATE = datetime.date(2049, 12, 31)  # the range that two-digit years can express with the pivot
#: Every character that a format can write (names, digits, separators, ordinal suffixes, "of").
SOURCE_CHARACTERS = "".join(MONTHS + WEEKDAYS) + "0123456789 ,./-" + "stndrh" + "of"
TARGET_CHARACTERS = "0123456789-"


def _ordinal(day: int) -> str:
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


#: The eight human formats, each shown on 5 March 2019.
DATE_FORMATS: dict[str, Callable[[datetime.date], str]] = {
    "weekday day month year": lambda d: f"{WEEKDAYS[d.weekday()]}, {d.day} {MONTHS[d.month - 1]} {d.year}",
    "mm/dd/yy": lambda d: f"{d.month:02d}/{d.day:02d}/{d.year % 100:02d}",
    "d Mon yyyy": lambda d: f"{d.day} {MONTHS[d.month - 1][:3]} {d.year}",
    "Month d, yyyy": lambda d: f"{MONTHS[d.month - 1]} {d.day}, {d.year}",
    "dd.mm.yyyy": lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}",
    "ordinal": lambda d: f"{_ordinal(d.day)} of {MONTHS[d.month - 1]} {d.year}",
    "d-Mon-yy": lambda d: f"{d.day}-{MONTHS[d.month - 1][:3]}-{d.year % 100:02d}",
    "Wkd, Mon d, yyyy": lambda d: f"{WEEKDAYS[d.weekday()][:3]}, {MONTHS[d.month - 1][:3]} {d.day}, {d.year}",
}


def format_date(date: datetime.date, style: str) -> str:
    """Write ``date`` in one of the :data:`DATE_FORMATS` (``style`` is its name)."""
    if style not in DATE_FORMATS:
        allowed = ", ".join(repr(name) for name in DATE_FORMATS)
        raise ValueError(f"style must be one of {allowed}, got {style!r}")
    if not FIRST_DATE <= date <= LAST_DATE:
        raise ValueError(f"date must lie in [{FIRST_DATE}, {LAST_DATE}], got {date}")
    return DATE_FORMATS[style](date)


class CharVocab:
    """Characters <-> integer ids, with ``<pad>`` = 0, ``<s>`` (start) = 1 and ``</s>`` (end) = 2."""

    PAD, BOS, EOS = 0, 1, 2
    SPECIALS = ("<pad>", "<s>", "</s>")

    def __init__(self, characters: Sequence[str] | str) -> None:
        if not isinstance(characters, (str, Sequence)) or not characters:
            raise ValueError(f"characters must be a non-empty string or sequence of characters, got {characters!r}")
        chars = sorted(set(characters))
        if any(not isinstance(c, str) or len(c) != 1 for c in chars):
            raise ValueError(f"characters must be single characters, got {[c for c in chars if len(c) != 1]}")
        self.tokens: list[str] = list(self.SPECIALS) + chars
        self.index = {token: i for i, token in enumerate(self.tokens)}

    def __len__(self) -> int:
        return len(self.tokens)

    def __repr__(self) -> str:
        return f"CharVocab({len(self)} tokens: {''.join(self.tokens[len(self.SPECIALS):])!r} and {self.SPECIALS})"

    def encode(self, text: str, add_bos: bool = False, add_eos: bool = False) -> list[int]:
        """Ids of the characters of ``text``, optionally framed by ``<s>`` and ``</s>``."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        unknown = sorted(set(text) - set(self.index))
        if unknown:
            raise ValueError(f"text {text!r} has characters outside the vocabulary: {unknown}")
        return [self.BOS] * add_bos + [self.index[c] for c in text] + [self.EOS] * add_eos

    def decode(self, ids: Sequence[int] | torch.Tensor) -> str:
        """The text of ``ids`` up to the first ``</s>``, without special tokens."""
        ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
        chars = []
        for i in ids:
            if i == self.EOS:
                break
            if not 0 <= i < len(self.tokens):
                raise ValueError(f"ids must lie in [0, {len(self.tokens) - 1}], got {i}")
            if i >= len(self.SPECIALS):
                chars.append(self.tokens[i])
        return "".join(chars)


@dataclass
class SequencePairs:
    """Padded integer sequences: ``source (N, S)`` with ``source_lengths (N,)``, ``target (N, T)`` as ``<s> ... </s>``."""

    source: torch.Tensor
    source_lengths: torch.Tensor
    target: torch.Tensor

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: slice | torch.Tensor) -> SequencePairs:
        return SequencePairs(self.source[index], self.source_lengths[index], self.target[index])

    def to(self, device: torch.device | str) -> SequencePairs:
        return SequencePairs(self.source.to(device), self.source_lengths.to(device), self.target.to(device))


def _pad(sequences: list[list[int]]) -> torch.Tensor:
    padded = torch.full((len(sequences), max(map(len, sequences))), CharVocab.PAD, dtype=torch.long)
    for row, ids in enumerate(sequences):
        padded[row, :len(ids)] = torch.tensor(ids)
    return padded


@dataclass
class DateTranslation:
    """The date task: texts, vocabularies and padded tensors for a training and a test set."""

    train_text: list[tuple[str, str]]
    test_text: list[tuple[str, str]]
    source_vocab: CharVocab
    target_vocab: CharVocab
    train: SequencePairs
    test: SequencePairs

    def __repr__(self) -> str:
        return (f"DateTranslation({len(self.train_text)} training and {len(self.test_text)} test pairs, "
                f"{len(self.source_vocab)} source and {len(self.target_vocab)} target tokens)")

    def encode(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Padded source ids ``(len(texts), S)`` and their lengths, ready for a model."""
        ids = [self.source_vocab.encode(text) for text in texts]
        return _pad(ids), torch.tensor([len(i) for i in ids])


def random_dates(n: int, seed: int = 0) -> list[datetime.date]:
    """``n`` distinct dates drawn uniformly from [1950-01-01, 2049-12-31] with a seeded generator."""
    total_days = (LAST_DATE - FIRST_DATE).days + 1
    n = check_int("n", n, minimum=1, maximum=total_days)
    seed = check_int("seed", seed, minimum=0)
    offsets = torch.randperm(total_days, generator=torch.Generator().manual_seed(seed))[:n]
    return [FIRST_DATE + datetime.timedelta(days=int(o)) for o in offsets]


def load_dates(n_train: int = 10_000, n_test: int = 2_000, styles: Sequence[str] | None = None,
               seed: int = 0) -> DateTranslation:
    """Translation pairs (human date, ISO date), each date written in a random one of ``styles``.

    Training and test dates are distinct days, so every test date is new to the model. ``styles``
    defaults to all eight :data:`DATE_FORMATS`.
    """
    n_train = check_int("n_train", n_train, minimum=1)
    n_test = check_int("n_test", n_test, minimum=1)
    styles = list(DATE_FORMATS) if styles is None else list(styles)
    if not styles:
        raise ValueError("styles must name at least one format, got none")
    for style in styles:
        if style not in DATE_FORMATS:
            raise ValueError(f"styles must be names from DATE_FORMATS {list(DATE_FORMATS)}, got {style!r}")
    seed = check_int("seed", seed, minimum=0)
    total_days = (LAST_DATE - FIRST_DATE).days + 1
    if n_train + n_test > total_days:
        raise ValueError(f"n_train + n_test must be at most {total_days} (the days from {FIRST_DATE} to {LAST_DATE}), "
                         f"got n_train={n_train} and n_test={n_test}")
    dates = random_dates(n_train + n_test, seed)
    choice = torch.randint(len(styles), (len(dates),), generator=torch.Generator().manual_seed(seed + 1))
    pairs = [(format_date(d, styles[int(c)]), d.isoformat()) for d, c in zip(dates, choice)]
    source_vocab, target_vocab = CharVocab(SOURCE_CHARACTERS), CharVocab(TARGET_CHARACTERS)

    def tensors(part: list[tuple[str, str]]) -> SequencePairs:
        source = [source_vocab.encode(s) for s, _ in part]
        target = [target_vocab.encode(t, add_bos=True, add_eos=True) for _, t in part]
        return SequencePairs(_pad(source), torch.tensor([len(s) for s in source]), _pad(target))

    train_text, test_text = pairs[:n_train], pairs[n_train:]
    return DateTranslation(train_text, test_text, source_vocab, target_vocab, tensors(train_text), tensors(test_text))
