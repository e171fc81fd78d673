import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm.identity import ErrorCode, IdentityError, normalize_external_id


class TestExternalId:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("12345", "12345"),
            ("  12345\n", "12345"),
            ("Pt-00A7f", "Pt-00A7f"),  # case is preserved: ids are opaque
            ("conv 42", "conv 42"),
            ("x" * 128, "x" * 128),
            (987654321, "987654321"),  # numeric ids from JSON payloads
        ],
    )
    def test_an_id_is_stripped_and_otherwise_kept(self, raw, expected):
        assert normalize_external_id(raw) == expected

    @pytest.mark.parametrize(
        "raw",
        [
            "",
            "   ",
            "x" * 129,
            "12\x0045",
            "12\t45",
            "12\n45",
            "12\u200b45",  # zero-width space
            "12\x1b[0m",
            None,
            True,
            12.5,
        ],
    )
    def test_an_invalid_id_is_rejected(self, raw):
        with pytest.raises(IdentityError) as caught:
            normalize_external_id(raw)
        assert caught.value.code is ErrorCode.INVALID_EXTERNAL_ID
        assert caught.value.field == "external_id"

    @given(raw=st.text(max_size=140))
    def test_any_text_is_either_a_stable_id_or_an_identity_error(self, raw):
        try:
            once = normalize_external_id(raw)
        except IdentityError as exc:
            assert exc.code is ErrorCode.INVALID_EXTERNAL_ID
            return
        assert normalize_external_id(once) == once
        assert 0 < len(once) <= 128
