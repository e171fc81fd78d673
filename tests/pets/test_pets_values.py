"""Normalising pet values: each bad one is a coded issue, never an exception."""

from __future__ import annotations

import pytest

from crm.pets.values import name_key, normalize_microchip, normalize_pet


class TestMicrochip:
    @pytest.mark.parametrize(
        ("given", "stored"),
        [
            ("956000012345678", "956000012345678"),
            ("956 000 012 345 678", "956000012345678"),
            ("956-000-012-345-678", "956000012345678"),
            ("985.141.000.123.456", "985141000123456"),
            ("123456789", "123456789"),  # AVID, 9 digits
            ("0a01 39 4c 2f", "0A01394C2F"),  # FDX-A, 10 hexadecimal characters
        ],
    )
    def test_accepted_forms(self, given, stored):
        assert normalize_microchip(given) == stored

    @pytest.mark.parametrize(
        "given", ["", "12-34", "95600001234567", "9560000123456789", "ZZ01394C2F", "chip"]
    )
    def test_anything_else_is_refused(self, given):
        with pytest.raises(ValueError):
            normalize_microchip(given)


class TestPetValues:
    def test_desexed_forms_of_sex(self):
        values, issues = normalize_pet({"sex": "FS"}, region="AU")
        assert (values, issues) == ({"sex": "female", "desexed": True}, [])

    def test_an_explicit_desexed_wins(self):
        values, _ = normalize_pet({"sex": "MN", "desexed": "entire"}, region="AU")
        assert values == {"sex": "male", "desexed": False}

    @pytest.mark.parametrize(
        ("given", "kg"), [("12.5", 12.5), ("12,5 kg", 12.5), ("22 lb", 9.979), ("800 g", 0.8)]
    )
    def test_weights(self, given, kg):
        values, issues = normalize_pet({"weight_kg": given}, region="AU")
        assert (values, issues) == ({"weight_kg": kg}, [])

    def test_each_bad_value_is_an_issue_and_the_rest_stays(self):
        values, issues = normalize_pet(
            {
                "name": "Rex",
                "sex": "sometimes",
                "date_of_birth": "2999-01-01",
                "microchip": "12",
                "weight_kg": "heavy",
                "status": "asleep",
                "desexed": "maybe",
            },
            region="AU",
        )
        assert values == {"name": "Rex"}
        assert {(i.code, i.field) for i in issues} == {
            ("INVALID_PET_SEX", "sex"),
            ("INVALID_DATE", "date_of_birth"),
            ("INVALID_MICROCHIP", "microchip"),
            ("INVALID_INPUT", "weight_kg"),
            ("INVALID_INPUT", "status"),
            ("INVALID_INPUT", "desexed"),
        }
        assert all("2999" not in i.message for i in issues)

    def test_statuses(self):
        assert normalize_pet({"status": "Passed away"}, region="AU")[0] == {"status": "deceased"}
        assert normalize_pet({"status": "alive"}, region="AU")[0] == {"status": "active"}

    def test_name_key_folds_case_accents_and_spaces(self):
        assert name_key("  Chloé  Rose ") == name_key("chloe rose") == "chloe rose"
