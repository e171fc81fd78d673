import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from crm.identity import Channel, ErrorCode, IdentityError, normalize_handle

INSTAGRAM_HANDLES = st.from_regex(r"[A-Za-z0-9._]{1,30}", fullmatch=True)
FACEBOOK_HANDLES = st.one_of(
    st.from_regex(r"[A-Za-z0-9.]{5,50}", fullmatch=True),
    st.integers(min_value=1, max_value=10**17).map(str),
)
# Instagram paths that are site pages (a post, a reel...), so no profile has these names
INSTAGRAM_PAGES = {"p", "reel", "reels", "tv", "explore", "accounts", "direct", "about", "legal"}
FACEBOOK_PAGES = {
    "groups", "events", "watch", "share", "sharer", "sharer.php", "marketplace", "gaming",
    "hashtag", "login", "login.php", "help", "photo.php", "story.php", "permalink.php",
    "home.php", "settings", "messages", "notifications", "pages", "people", "profile.php",
}  # fmt: skip
# names that read as a bare link to a network
HOST_NAMES = {"instagram.com", "instagr.am", "facebook.com", "fb.com", "fb.me", "m.me"}


class TestInstagramHandle:
    @pytest.mark.parametrize(
        "raw",
        [
            "mary.smith",
            "@mary.smith",
            "  @Mary.Smith ",
            "MARY.SMITH",
            "https://instagram.com/mary.smith/",
            "https://www.instagram.com/Mary.Smith?igsh=abc123",
            "http://instagram.com/mary.smith",
            "instagram.com/mary.smith",
            "www.instagram.com/mary.smith/",
            "instagr.am/mary.smith",
            "https://www.instagram.com/stories/mary.smith/3141592653/",
        ],
    )
    def test_every_way_of_writing_a_handle_gives_one_key(self, raw):
        assert normalize_handle(raw, Channel.INSTAGRAM) == "mary.smith"

    def test_the_channel_may_be_given_by_name(self):
        assert normalize_handle("@Mary_1", "instagram") == "mary_1"

    @pytest.mark.parametrize(
        "raw",
        [
            "",
            "@",
            "mary smith",
            "mary-smith",
            "mary@smith",
            "a" * 31,
            "instagram.com",
            "https://instagram.com/",
            "https://www.instagram.com/p/Cx1234/",  # a post, not a profile
            "https://www.instagram.com/explore/tags/cats/",
            "https://facebook.com/mary.smith",  # another network's link
            "https://example.com/mary.smith",
            "http://[::1",
        ],
    )
    def test_an_invalid_handle_is_rejected(self, raw):
        with pytest.raises(IdentityError) as caught:
            normalize_handle(raw, Channel.INSTAGRAM)
        assert caught.value.code is ErrorCode.INVALID_HANDLE
        assert caught.value.field == "instagram"


class TestFacebookHandle:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("mary.smith", "mary.smith"),
            ("@Mary.Smith", "mary.smith"),
            ("fb.com/mary.smith", "mary.smith"),
            ("https://www.facebook.com/Mary.Smith/", "mary.smith"),
            ("m.facebook.com/mary.smith", "mary.smith"),
            ("https://m.me/mary.smith", "mary.smith"),
            ("100012345678", "100012345678"),
            ("4", "4"),
            ("https://www.facebook.com/profile.php?id=100012345678", "100012345678"),
            ("facebook.com/people/Mary-Smith/100012345678/", "100012345678"),
        ],
    )
    def test_usernames_ids_and_profile_links_are_accepted(self, raw, expected):
        assert normalize_handle(raw, Channel.FACEBOOK) == expected

    @pytest.mark.parametrize(
        "raw",
        [
            "mary",  # usernames have at least 5 characters
            "mary_smith",
            "m" * 51,
            "https://www.facebook.com/groups/123456/",
            "https://www.facebook.com/profile.php",
            "https://instagram.com/mary.smith",
        ],
    )
    def test_an_invalid_handle_is_rejected(self, raw):
        with pytest.raises(IdentityError) as caught:
            normalize_handle(raw, Channel.FACEBOOK)
        assert caught.value.code is ErrorCode.INVALID_HANDLE
        assert caught.value.field == "facebook"


class TestHandleErrors:
    @pytest.mark.parametrize("channel", [Channel.EMAIL, Channel.PHONE, "CLINIKO", "tiktok"])
    def test_a_channel_without_handles_is_unsupported(self, channel):
        with pytest.raises(IdentityError) as caught:
            normalize_handle("mary.smith", channel)
        assert caught.value.code is ErrorCode.UNSUPPORTED_CHANNEL

    @pytest.mark.parametrize("raw", [None, 12345])
    def test_a_value_that_is_not_text_is_rejected(self, raw):
        with pytest.raises(IdentityError) as caught:
            normalize_handle(raw, Channel.INSTAGRAM)
        assert caught.value.code is ErrorCode.INVALID_HANDLE


class TestHandleProperties:
    @given(
        handle=INSTAGRAM_HANDLES,
        form=st.sampled_from(
            ["{}", "@{}", " {} ", "https://instagram.com/{}/", "www.instagram.com/{}"]
        ),
    )
    @settings(deadline=None)
    def test_instagram_is_idempotent_and_every_form_gives_one_key(self, handle, form):
        assume(handle.lower() not in INSTAGRAM_PAGES | HOST_NAMES)
        once = normalize_handle(form.format(handle), Channel.INSTAGRAM)
        assert once == handle.lower()
        assert normalize_handle(once, Channel.INSTAGRAM) == once

    @given(
        handle=FACEBOOK_HANDLES,
        form=st.sampled_from(["{}", "@{}", "fb.com/{}", "https://www.facebook.com/{}/"]),
    )
    @settings(deadline=None)
    def test_facebook_is_idempotent_and_every_form_gives_one_key(self, handle, form):
        assume(handle.lower() not in FACEBOOK_PAGES | HOST_NAMES)
        once = normalize_handle(form.format(handle), Channel.FACEBOOK)
        assert once == handle.lower()
        assert normalize_handle(once, Channel.FACEBOOK) == once

    @given(raw=st.text(max_size=60), channel=st.sampled_from([Channel.INSTAGRAM, Channel.FACEBOOK]))
    @settings(deadline=None)
    def test_any_text_is_either_a_stable_handle_or_an_identity_error(self, raw, channel):
        try:
            once = normalize_handle(raw, channel)
        except IdentityError as exc:
            assert exc.code is ErrorCode.INVALID_HANDLE
            return
        assert normalize_handle(once, channel) == once
