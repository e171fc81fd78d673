import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm.identity import first_name_similarity, first_names_agree, first_names_compatible


class TestFirstNamesCompatible:
    @pytest.mark.parametrize(
        ("a", "b"),
        [
            ("John", "John"),
            ("john", "JOHN"),
            ("José", "Jose"),
            ("John", None),
            (None, "Mary"),
            ("", "Mary"),
            ("J", "John"),
            ("J.", "John"),
            ("Chris", "Christopher"),
            ("Sam", "Samantha"),
            ("Bill", "William"),
            ("Bob", "Robert"),
            ("Peggy", "Margaret"),
            ("Jonh", "John"),  # typo
            ("Sarah", "Sara"),
            ("Mary Anne", "Mary"),
            ("Mary Anne", "Mary-Jane"),
        ],
    )
    def test_the_same_person_could_have_both(self, a, b):
        assert first_names_compatible(a, b)
        assert first_names_compatible(b, a)

    @pytest.mark.parametrize(
        ("a", "b"),
        [
            ("John", "Mary"),
            ("Liam", "Noah"),
            ("John", "Joan"),
            ("John", "Jacob"),
            ("K", "John"),
            ("John", "Nathan"),  # both relate to Jonathan, but not to each other
            ("Gary", "Jerry"),
            ("Kate", "Chris"),
        ],
    )
    def test_clearly_different_first_names_are_not(self, a, b):
        assert not first_names_compatible(a, b)
        assert not first_names_compatible(b, a)

    @given(a=st.text(max_size=15), b=st.text(max_size=15))
    def test_compatibility_is_symmetric_and_reflexive(self, a, b):
        assert first_names_compatible(a, b) == first_names_compatible(b, a)
        assert first_names_compatible(a, a)


class TestFirstNamesAgree:
    """The stricter relation that links a shared email or phone at ingest."""

    @pytest.mark.parametrize(
        ("a", "b"),
        [
            ("John", "John"),
            ("john", "JOHN"),
            ("José", "Jose"),
            ("John", None),
            ("", "Mary"),
            ("J", "John"),
            ("J.", "John"),
            ("Bill", "William"),
            ("Bob", "Robert"),
            ("Liz", "Elizabeth"),
            ("Tom", "Thomas"),
            ("Sarah", "Sara"),
            ("Mary Anne", "Mary"),
        ],
    )
    def test_equal_names_nicknames_and_initials_agree(self, a, b):
        assert first_names_agree(a, b)
        assert first_names_agree(b, a)

    @pytest.mark.parametrize(
        ("a", "b"),
        [
            ("Paul", "Paula"),
            ("Daniel", "Danielle"),
            ("Eric", "Erica"),
            ("Louis", "Louise"),
            ("Robert", "Roberta"),
            ("Joseph", "Josephine"),
            ("Michael", "Michelle"),
            ("Ann", "Anna"),
            ("Max", "Maxine"),
            ("Jonh", "John"),
            ("Wiliam", "William"),
            ("Mary Anne", "Mary-Jane"),
            ("K", "John"),
        ],
    )
    def test_prefixes_typos_and_feminine_forms_do_not(self, a, b):
        assert not first_names_agree(a, b)
        assert not first_names_agree(b, a)

    @given(a=st.text(max_size=15), b=st.text(max_size=15))
    def test_agreeing_names_are_compatible_too(self, a, b):
        assert first_names_agree(a, b) == first_names_agree(b, a)
        assert first_names_agree(a, a)
        if first_names_agree(a, b):
            assert first_names_compatible(a, b)


class TestFirstNameSimilarity:
    @pytest.mark.parametrize(
        ("a", "b"), [("John", "john"), ("Bill", "William"), ("José", "Jose"), ("Liz", "Elizabeth")]
    )
    def test_equal_names_and_nicknames_score_one(self, a, b):
        assert first_name_similarity(a, b) == 1.0

    def test_a_missing_name_is_no_evidence(self):
        assert first_name_similarity(None, "John") == 0.0
        assert first_name_similarity("", "") == 0.0

    def test_closer_names_score_higher(self):
        assert first_name_similarity("Chris", "Christopher") >= 0.9
        assert first_name_similarity("Jonh", "John") > first_name_similarity("John", "Joan")
        assert first_name_similarity("John", "Joan") > first_name_similarity("John", "Mary")
        assert 0.7 <= first_name_similarity("J", "John") < 0.88

    @given(a=st.text(max_size=15), b=st.text(max_size=15))
    def test_similarity_is_a_symmetric_score_between_zero_and_one(self, a, b):
        score = first_name_similarity(a, b)
        assert 0.0 <= score <= 1.0
        assert score == first_name_similarity(b, a)
