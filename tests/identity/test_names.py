import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm.identity import ErrorCode, IdentityError, clean_name, name_key, split_full_name


class TestCleanName:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("Mary", "Mary"),
            ("  Mary   Anne\t", "Mary Anne"),
            ("Mary\nAnne", "Mary Anne"),
            ("Mary\u00a0Anne", "Mary Anne"),
            ("Jose\u0301", "José"),  # decomposed accent is recomposed (NFC)
            ("O'Brien-Smith", "O'Brien-Smith"),
            ("\u0645\u0647\u200c\u0631\u0627\u0646", "\u0645\u0647\u200c\u0631\u0627\u0646"),
            ("x" * 100, "x" * 100),
        ],
    )
    def test_a_name_is_collapsed_stripped_and_composed(self, raw, expected):
        assert clean_name(raw) == expected

    @pytest.mark.parametrize("raw", [None, "", "   ", "\t\n"])
    def test_an_empty_name_is_none(self, raw):
        assert clean_name(raw) is None

    @pytest.mark.parametrize("raw", ["Mary\x00", "Ma\x07ry", "Mary\x7f", "x" * 101, 42])
    def test_control_characters_and_long_names_are_rejected(self, raw):
        with pytest.raises(IdentityError) as caught:
            clean_name(raw)
        assert caught.value.code is ErrorCode.INVALID_NAME
        assert caught.value.field == "name"

    @given(raw=st.text(max_size=120))
    def test_cleaning_is_idempotent(self, raw):
        try:
            once = clean_name(raw)
        except IdentityError as exc:
            assert exc.code is ErrorCode.INVALID_NAME
            return
        assert clean_name(once) == once
        assert once is None or (once == once.strip() and unicodedata.is_normalized("NFC", once))


class TestSplitFullName:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("Mary Anne Smith", ("Mary Anne", "Smith")),
            ("Mary Smith", ("Mary", "Smith")),
            ("  Mary   Smith  ", ("Mary", "Smith")),
            ("Smith, Mary", ("Mary", "Smith")),
            ("Smith,Mary Anne", ("Mary Anne", "Smith")),
            ("Madonna", ("Madonna", None)),
            ("Smith,", (None, "Smith")),
            ("", (None, None)),
            ("   ", (None, None)),
            ("John Smith Jr", ("John", "Smith Jr")),
            ("Anne van der Berg", ("Anne", "van der Berg")),
            ("Jean de la Fontaine", ("Jean", "de la Fontaine")),
            ("Mary Van Smith", ("Mary Van", "Smith")),  # capitalised: a given name, not a particle
        ],
    )
    def test_a_full_name_splits_into_first_and_last(self, raw, expected):
        assert split_full_name(raw) == expected

    @given(raw=st.text(max_size=60))
    def test_splitting_never_fails_and_loses_no_words(self, raw):
        first, last = split_full_name(raw)
        words = " ".join(part for part in (last, first) if part).split()
        assert sorted(words) == sorted(raw.replace(",", " ", 1).split())


class TestNameKey:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("Mary", "mary"),
            ("José", "jose"),
            ("Zoë O'Brien-Smith", "zoeobriensmith"),
            ("Łukasz Søren", "lukaszsoren"),
            ("STRASSE", "strasse"),
            ("Straße", "strasse"),
            ("J.", "j"),
            ("Mary 2", "mary"),
            ("", ""),
            (None, ""),
        ],
    )
    def test_a_key_folds_case_and_accents_and_keeps_letters(self, raw, expected):
        assert name_key(raw) == expected

    @given(raw=st.text(max_size=40))
    def test_a_key_holds_only_letters_and_is_stable(self, raw):
        key = name_key(raw)
        assert all(ch.isalpha() for ch in key)
        assert name_key(key) == key
