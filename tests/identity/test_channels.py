import pickle

import pytest

from crm.identity import (
    PMS_NAMESPACES,
    SHARED_NAMESPACES,
    Channel,
    ErrorCode,
    IdentityError,
    IdentityKey,
    channel_for_namespace,
    namespace_for,
    normalize_identifier,
    normalize_region,
    parse_channel,
)


class TestErrors:
    def test_an_identity_error_carries_code_message_and_field(self):
        error = IdentityError(ErrorCode.INVALID_PHONE, "not a phone number", field="phone")
        assert isinstance(error, ValueError)
        assert (error.code, error.message, error.field) == (
            ErrorCode.INVALID_PHONE,
            "not a phone number",
            "phone",
        )
        assert str(error) == "not a phone number"

    def test_an_identity_error_survives_pickling(self):
        # arq and multiprocessing pickle exceptions
        error = IdentityError(ErrorCode.INVALID_DATE, "bad", field="date_of_birth")
        copy = pickle.loads(pickle.dumps(error))
        assert (copy.code, copy.message, copy.field) == (error.code, error.message, error.field)

    def test_error_codes_are_their_own_names(self):
        assert [code.value for code in ErrorCode] == [code.name for code in ErrorCode]
        assert ErrorCode.INVALID_EMAIL == "INVALID_EMAIL"


class TestChannels:
    def test_channel_values_equal_their_names(self):
        assert [channel.value for channel in Channel] == [channel.name for channel in Channel]
        assert len(Channel) == 13

    @pytest.mark.parametrize(
        ("channel", "namespace"),
        [
            (Channel.PHONE, "tel"),
            (Channel.WHATSAPP, "tel"),
            (Channel.SMS, "tel"),
            (Channel.EMAIL, "email"),
            (Channel.INSTAGRAM, "instagram"),
            (Channel.FACEBOOK, "facebook"),
            (Channel.CHATWOOT, "chatwoot"),
            (Channel.CLINIKO, "cliniko"),
            (Channel.GENTU, "gentu"),
            (Channel.HALAXY, "halaxy"),
            (Channel.MEDIRECORDS, "medirecords"),
            (Channel.CAREPORTALS, "careportals"),
            (Channel.EXTERNAL, "external"),
        ],
    )
    def test_each_channel_has_a_namespace(self, channel, namespace):
        assert namespace_for(channel) == namespace

    def test_a_namespace_maps_back_to_its_channel(self):
        assert channel_for_namespace("tel") is Channel.PHONE
        for channel in Channel:
            assert namespace_for(channel_for_namespace(namespace_for(channel))) == (
                namespace_for(channel)
            )

    def test_only_tel_and_email_are_shared(self):
        assert sorted(SHARED_NAMESPACES) == ["email", "tel"]
        assert sorted(PMS_NAMESPACES) == ["cliniko", "gentu", "halaxy", "medirecords"]

    @pytest.mark.parametrize("raw", ["whatsapp", "WhatsApp", " WHATSAPP ", Channel.WHATSAPP])
    def test_a_channel_is_parsed_from_its_name_in_any_case(self, raw):
        assert parse_channel(raw) is Channel.WHATSAPP

    @pytest.mark.parametrize("raw", ["tiktok", "tel", "", None, 3])
    def test_an_unknown_channel_is_unsupported(self, raw):
        with pytest.raises(IdentityError) as caught:
            parse_channel(raw)
        assert caught.value.code is ErrorCode.UNSUPPORTED_CHANNEL

    def test_an_unknown_namespace_is_unsupported(self):
        with pytest.raises(IdentityError) as caught:
            channel_for_namespace("tiktok")
        assert caught.value.code is ErrorCode.UNSUPPORTED_CHANNEL


class TestNormalizeIdentifier:
    @pytest.mark.parametrize(
        ("channel", "raw", "expected"),
        [
            (Channel.PHONE, "0412 345 678", IdentityKey("tel", "+61412345678")),
            ("whatsapp", "+61 412 345 678", IdentityKey("tel", "+61412345678")),
            ("SMS", "tel:+61412345678", IdentityKey("tel", "+61412345678")),
            ("email", " Mary@Example.com", IdentityKey("email", "mary@example.com")),
            ("instagram", "@Mary.Smith", IdentityKey("instagram", "mary.smith")),
            ("facebook", "fb.com/mary.smith", IdentityKey("facebook", "mary.smith")),
            ("cliniko", " 10042 ", IdentityKey("cliniko", "10042")),
            ("CAREPORTALS", "Cust-9A", IdentityKey("careportals", "Cust-9A")),
            ("external", "row-7", IdentityKey("external", "row-7")),
        ],
    )
    def test_a_value_on_a_channel_becomes_its_key(self, channel, raw, expected):
        assert normalize_identifier(channel, raw) == expected

    def test_the_region_reads_local_numbers(self):
        key = normalize_identifier(Channel.WHATSAPP, "021 123 4567", region="NZ")
        assert key == IdentityKey("tel", "+64211234567")

    def test_a_whatsapp_number_finds_the_phone_key(self):
        # given the same person seen on three channels
        keys = {
            normalize_identifier(Channel.PHONE, "(04) 1234 5678"),
            normalize_identifier(Channel.WHATSAPP, "+61412345678"),
            normalize_identifier(Channel.SMS, "0061 412 345 678"),
        }
        # then they share one key
        assert len(keys) == 1

    @pytest.mark.parametrize(
        ("channel", "raw", "code"),
        [
            ("tiktok", "mary", ErrorCode.UNSUPPORTED_CHANNEL),
            ("phone", "12", ErrorCode.INVALID_PHONE),
            ("email", "mary@", ErrorCode.INVALID_EMAIL),
            ("instagram", "mary smith", ErrorCode.INVALID_HANDLE),
            ("gentu", "", ErrorCode.INVALID_EXTERNAL_ID),
        ],
    )
    def test_errors_carry_their_codes(self, channel, raw, code):
        with pytest.raises(IdentityError) as caught:
            normalize_identifier(channel, raw)
        assert caught.value.code is code

    def test_keys_are_frozen_and_hashable(self):
        key = IdentityKey("tel", "+61412345678")
        assert {key: 1}[IdentityKey("tel", "+61412345678")] == 1
        with pytest.raises(AttributeError):
            key.value = "x"


class TestRegion:
    @pytest.mark.parametrize(
        ("raw", "expected"), [("AU", "AU"), ("nz", "NZ"), (" us ", "US"), ("UK", "GB")]
    )
    def test_a_region_is_an_upper_case_alpha_2_code(self, raw, expected):
        assert normalize_region(raw) == expected

    @pytest.mark.parametrize("raw", ["", "XX", "AUS", "001", "A", None])
    def test_an_unknown_region_is_rejected(self, raw):
        with pytest.raises(IdentityError) as caught:
            normalize_region(raw)
        assert caught.value.code is ErrorCode.INVALID_REGION
        assert caught.value.field == "region"
