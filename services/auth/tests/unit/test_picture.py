"""Which `picture` claims are kept: https URLs and small PNG, JPEG or SVG data: URLs, nothing
else, because the value becomes an <img src> in other people's browsers (docs/auth.md)."""

from __future__ import annotations

import base64

import pytest
from auth.devprovider.accounts import account_for
from auth.domain.picture import MAX_PICTURE_DATA_URL, MAX_PICTURE_URL, safe_picture

GOOGLE_PICTURE = "https://lh3.googleusercontent.com/a/ACg8ocJ-x_Yz0123456789abcdef=s96-c"
SVG = base64.b64encode(b'<svg xmlns="http://www.w3.org/2000/svg"/>').decode()


def data_url(mime: str, size: int) -> str:
    """A base64 data: URL of exactly `size` characters."""
    prefix = f"data:{mime};base64,"
    payload = "A" * ((size - len(prefix)) // 4 * 4)
    return prefix + payload + "=" * (size - len(prefix) - len(payload))


class TestPicturesThatAreKept:
    @pytest.mark.parametrize(
        "picture",
        [
            GOOGLE_PICTURE,
            "https://idp.example:8443/avatars/7.png?size=96#x",
            f"data:image/svg+xml;base64,{SVG}",
            f"data:IMAGE/SVG+XML;charset=utf-8;base64,{SVG}",
            "data:image/png;base64,iVBORw0KGgo=",
            "data:image/jpeg;base64,/9j/4AAQSkZJRg==",
            "data:image/svg+xml,%3Csvg%20xmlns%3D%22http%3A%2F%2Fwww.w3.org%2F2000%2Fsvg%22%2F%3E",
        ],
    )
    def test_https_urls_and_png_jpeg_or_svg_data_urls_are_kept_as_they_are(self, picture):
        assert safe_picture(picture) == picture

    def test_the_local_providers_avatar_is_kept(self):
        picture = account_for("ann@example.com").picture

        assert safe_picture(picture) == picture

    def test_a_data_url_of_exactly_16_kib_is_kept(self):
        picture = data_url("image/png", MAX_PICTURE_DATA_URL)

        assert len(picture) == 16 * 1024
        assert safe_picture(picture) == picture


class TestPicturesThatAreDropped:
    @pytest.mark.parametrize(
        "picture",
        [
            None,
            "",
            42,
            ["https://a.example/p.png"],
            {"url": "https://a.example/p.png"},
        ],
    )
    def test_a_claim_that_is_not_a_string_is_dropped(self, picture):
        assert safe_picture(picture) is None

    @pytest.mark.parametrize(
        "picture",
        [
            "http://a.example/p.png",
            "HTTPS://a.example/p.png",
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            "vbscript:msgbox(1)",
            "blob:https://a.example/0d4c",
            "file:///etc/passwd",
            "ftp://a.example/p.png",
            "//a.example/p.png",
            "/avatars/p.png",
            "p.png",
        ],
    )
    def test_any_scheme_but_https_and_data_is_dropped(self, picture):
        assert safe_picture(picture) is None

    @pytest.mark.parametrize(
        "picture",
        [
            "https://",
            "https:///p.png",
            "https://user:secret@a.example/p.png",
            "https://a.example@evil.example/p.png",
            "https://a.example:99999/p.png",
            "https://a.example:port/p.png",
            "https://[::1/p.png",
        ],
    )
    def test_an_https_url_without_a_usable_host_or_with_user_info_is_dropped(self, picture):
        assert safe_picture(picture) is None

    @pytest.mark.parametrize(
        "picture",
        [
            'https://a.example/p.png" onerror="alert(1)',
            "https://a.example/p.png'",
            "https://a.example/p.png)",
            "https://a.example/p.png<script>",
            "https://a.example/p\\q.png",
            "https://a.example/p q.png",
            "https://a.example/p.png\n",
            "https://a.example/p.png\t",
            "https://a.example/\u00e9.png",
            "https://a.example/`x`.png",
            'data:image/svg+xml,<svg onload="alert(1)"/>',
            "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E",
        ],
    )
    def test_quotes_brackets_spaces_and_other_non_url_characters_drop_a_picture(self, picture):
        assert safe_picture(picture) is None

    @pytest.mark.parametrize(
        "picture",
        [
            f"data:text/html;base64,{SVG}",
            f"data:image/gif;base64,{SVG}",
            f"data:image/webp;base64,{SVG}",
            f"data:application/xml;base64,{SVG}",
            f"data:;base64,{SVG}",
            f"data:base64,{SVG}",
            f"data:image/svg+xml;base64{SVG}",
            "data:image/png;base64,",
            "data:image/png,",
            "data:image/png;base64,not*base64",
            "data:image/png;base64,AAA",
            f"data:image/svg+xml;base64;charset=utf-8,{SVG}",
            f"data:image/svg+xmlx;base64,{SVG}",
        ],
    )
    def test_a_data_url_of_another_type_or_not_well_formed_is_dropped(self, picture):
        assert safe_picture(picture) is None

    def test_a_data_url_over_16_kib_is_dropped(self):
        assert safe_picture(data_url("image/png", MAX_PICTURE_DATA_URL + 4)) is None

    def test_an_https_url_over_2_kib_is_dropped(self):
        long_url = "https://a.example/" + "p" * MAX_PICTURE_URL

        assert safe_picture(long_url) is None
        assert safe_picture(long_url[:MAX_PICTURE_URL]) == long_url[:MAX_PICTURE_URL]
