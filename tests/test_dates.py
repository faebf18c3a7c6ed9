import datetime

import pytest
import torch

from attnreg.data import DATE_FORMATS, CharVocab, format_date, load_dates, random_dates

MARCH_5_2019 = datetime.date(2019, 3, 5)  # a Tuesday


def test_eight_formats_on_a_known_date():
    written = {style: format_date(MARCH_5_2019, style) for style in DATE_FORMATS}
    assert written == {
        "weekday day month year": "Tuesday, 5 March 2019",
        "mm/dd/yy": "03/05/19",
        "d Mon yyyy": "5 Mar 2019",
        "Month d, yyyy": "March 5, 2019",
        "dd.mm.yyyy": "05.03.2019",
        "ordinal": "5th of March 2019",
        "d-Mon-yy": "5-Mar-19",
        "Wkd, Mon d, yyyy": "Tue, Mar 5, 2019",
    }


@pytest.mark.parametrize("day, expected", [(1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"), (11, "11th"), (12, "12th"),
                                           (13, "13th"), (21, "21st"), (22, "22nd"), (23, "23rd"), (30, "30th"), (31, "31st")])
def test_ordinal_suffixes(day, expected):
    assert format_date(datetime.date(2020, 1, day), "ordinal") == f"{expected} of January 2020"


@pytest.mark.parametrize("date, short", [(datetime.date(1950, 1, 1), "50"), (datetime.date(1999, 12, 31), "99"),
                                         (datetime.date(2000, 1, 1), "00"), (datetime.date(2049, 12, 31), "49")])
def test_two_digit_years_follow_the_pivot(date, short):
    assert format_date(date, "mm/dd/yy").endswith("/" + short)
    assert format_date(date, "d-Mon-yy").endswith("-" + short)
    century = 1900 if int(short) >= 50 else 2000  # 50-99 -> 1950-1999, 00-49 -> 2000-2049
    assert century + int(short) == date.year


def test_pairs_translate_to_iso_and_train_test_dates_are_disjoint():
    data = load_dates(n_train=600, n_test=200, seed=3)
    assert len(data.train_text) == 600 and len(data.test_text) == 200
    train_iso = {iso for _, iso in data.train_text}
    test_iso = {iso for _, iso in data.test_text}
    assert len(train_iso) == 600 and len(test_iso) == 200 and not train_iso & test_iso
    for text, iso in data.train_text[:50]:
        date = datetime.date.fromisoformat(iso)
        assert text in {format_date(date, style) for style in DATE_FORMATS}
    styles_used = {style for text, iso in data.train_text for style in DATE_FORMATS
                   if format_date(datetime.date.fromisoformat(iso), style) == text}
    assert styles_used == set(DATE_FORMATS)


def test_tensors_match_the_texts():
    data = load_dates(n_train=50, n_test=20, seed=0)
    for split, texts in ((data.train, data.train_text), (data.test, data.test_text)):
        for row in (0, 7, len(texts) - 1):
            source, target = texts[row]
            length = int(split.source_lengths[row])
            assert length == len(source)
            assert data.source_vocab.decode(split.source[row, :length]) == source
            assert (split.source[row, length:] == CharVocab.PAD).all()
            assert split.target[row, 0] == CharVocab.BOS and split.target[row, -1] == CharVocab.EOS
            assert data.target_vocab.decode(split.target[row, 1:]) == target
    source, lengths = data.encode(["5 Mar 2019", "03/05/19"])
    assert source.shape == (2, 10) and lengths.tolist() == [10, 8]


def test_deterministic_with_seed():
    a, b, c = load_dates(100, 50, seed=1), load_dates(100, 50, seed=1), load_dates(100, 50, seed=2)
    assert a.train_text == b.train_text and a.test_text == b.test_text
    assert torch.equal(a.train.source, b.train.source)
    assert a.train_text != c.train_text
    assert random_dates(5, seed=4) == random_dates(5, seed=4)


def test_styles_restrict_the_formats():
    data = load_dates(40, 10, styles=["dd.mm.yyyy"], seed=0)
    assert all(text.count(".") == 2 and len(text) == 10 for text, _ in data.train_text)


def test_vocab_round_trip_and_specials():
    vocab = CharVocab("cab")
    assert vocab.tokens == ["<pad>", "<s>", "</s>", "a", "b", "c"] and len(vocab) == 6
    ids = vocab.encode("abcab", add_bos=True, add_eos=True)
    assert ids == [1, 3, 4, 5, 3, 4, 2]
    assert vocab.decode(ids) == "abcab"
    assert vocab.decode(torch.tensor(ids + [0, 0])) == "abcab"
    assert vocab.decode([3, 2, 4, 5]) == "a"  # stops at the first </s>
    data = load_dates(20, 5)
    for text, iso in data.train_text:
        assert data.source_vocab.decode(data.source_vocab.encode(text)) == text
        assert data.target_vocab.decode(data.target_vocab.encode(iso, add_bos=True, add_eos=True)) == iso


@pytest.mark.parametrize("call, error, message", [
    (lambda: format_date(MARCH_5_2019, "yyyy/mm/dd"), ValueError, r"style must be one of .*got 'yyyy/mm/dd'"),
    (lambda: format_date(datetime.date(2050, 1, 1), "ordinal"), ValueError, r"date must lie in \[1950-01-01, 2049-12-31\], got 2050-01-01"),
    (lambda: CharVocab(["ab", "c"]), ValueError, r"characters must be single characters, got \['ab'\]"),
    (lambda: CharVocab(""), ValueError, "characters must be a non-empty string"),
    (lambda: CharVocab("abc").encode("abd"), ValueError, r"text 'abd' has characters outside the vocabulary: \['d'\]"),
    (lambda: CharVocab("abc").encode(3), TypeError, "text must be a str, got int"),
    (lambda: CharVocab("abc").decode([3, 9]), ValueError, r"ids must lie in \[0, 5\], got 9"),
    (lambda: load_dates(n_train=0), ValueError, r"n_train must be an integer in \[1, inf\], got 0"),
    (lambda: load_dates(n_train=10, n_test=1.5), TypeError, "n_test must be an integer"),
    (lambda: load_dates(n_train=30_000, n_test=10_000), ValueError, r"n_train \+ n_test must be at most 36525 .* got n_train=30000 and n_test=10000"),
    (lambda: load_dates(10, 5, styles=[]), ValueError, "styles must name at least one format"),
    (lambda: load_dates(10, 5, styles=["iso"]), ValueError, r"styles must be names from DATE_FORMATS .* got 'iso'"),
    (lambda: load_dates(10, 5, seed=-1), ValueError, r"seed must be an integer in \[0, inf\], got -1"),
    (lambda: random_dates(0), ValueError, r"n must be an integer in \[1, 36525\], got 0"),
])
def test_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()
