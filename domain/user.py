"""Users, usernames and the password policy."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib import resources

from domain.errors import InvalidPassword, InvalidUsername

USERNAME_MIN, USERNAME_MAX = 3, 64
PASSWORD_MIN, PASSWORD_MAX = 8, 1024

_USERNAME_PUNCTUATION = frozenset(".-_@+")

# Unicode's Default_Ignorable_Code_Point ranges (DerivedCoreProperties.txt). Most are category Cf,
# but some are letters or marks (Hangul fillers, variation selectors) that would otherwise pass.
_DEFAULT_IGNORABLE = (
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)

# Scripts that may share a username: Japanese writes Han with kana, Korean Han with Hangul.
_SCRIPT_FAMILIES = (frozenset({"HAN", "HIRAGANA", "KATAKANA"}), frozenset({"HAN", "HANGUL"}))
# Scripts whose Unicode character names begin with two words ("OLD ITALIC LETTER A").
_TWO_WORD_PREFIXES = frozenset(
    {
        "OLD",
        "LINEAR",
        "CANADIAN",
        "TAI",
        "NEW",
        "INSCRIPTIONAL",
        "CAUCASIAN",
        "PSALTER",
        "MASARAM",
        "GUNJALA",
        "HANIFI",
        "NYIAKENG",
        "PAU",
        "SORA",
        "WARANG",
        "ZANABAZAR",
        "MEETEI",
        "NKO",
    }
)


def _is_default_ignorable(char: str) -> bool:
    cp = ord(char)
    return any(lo <= cp <= hi for lo, hi in _DEFAULT_IGNORABLE)


def _script(char: str) -> str | None:
    """The script of a letter, mark or digit, or None for Common/Inherited ones.

    The standard library has no Script property; the leading words of the character's Unicode name
    stand in for it ("CYRILLIC SMALL LETTER A" -> CYRILLIC), as the spec allows.
    """
    if char.isascii():
        return "LATIN" if char.isalpha() else None
    words = unicodedata.name(char, "UNKNOWN").replace("-", " ").split()
    if words[0] == "COMBINING":
        return None  # Inherited: a combining mark takes the script of its base letter
    if words[0] == "EXTENDED" and len(words) > 1:  # EXTENDED ARABIC-INDIC DIGIT ONE
        words = words[1:]
    if words[0] in ("CJK", "IDEOGRAPHIC"):
        return "HAN"
    if words[0] in _TWO_WORD_PREFIXES and len(words) > 1:
        return f"{words[0]} {words[1]}"
    return words[0]


def _scripts_compatible(scripts: set[str]) -> bool:
    return len(scripts) <= 1 or any(scripts <= family for family in _SCRIPT_FAMILIES)


@dataclass(frozen=True, slots=True)
class Username:
    """A username: `display` is the NFKC form as typed, `canonical` the case-folded form that
    uniqueness and login compare (so `Alice`, `ALICE` and the full-width `ａｌｉｃｅ` are one user)."""

    display: str
    canonical: str

    @classmethod
    def parse(cls, raw: str) -> Username:
        display = unicodedata.normalize("NFKC", raw)
        if not USERNAME_MIN <= len(display) <= USERNAME_MAX:
            raise InvalidUsername(
                "length", f"Username must be {USERNAME_MIN} to {USERNAME_MAX} characters long"
            )
        scripts: set[str] = set()
        for char in display:
            category = unicodedata.category(char)
            if category[0] in "CZ" or _is_default_ignorable(char):
                raise InvalidUsername(
                    "character", "Username must not contain spaces, control or invisible characters"
                )
            if char in _USERNAME_PUNCTUATION:
                continue
            if category[0] not in "LM" and category != "Nd":
                raise InvalidUsername(
                    "character", "Username may contain only letters, digits and . _ - @ +"
                )
            script = _script(char)
            if script is not None:
                scripts.add(script)
        if not _scripts_compatible(scripts):
            raise InvalidUsername(
                "mixed_script", "Username must not mix letters of several scripts"
            )
        # Case folding can change the NFKC form again (e.g. U+1E9E); normalise once more.
        canonical = unicodedata.normalize("NFKC", display.casefold())
        return cls(display=display, canonical=canonical)

    def __str__(self) -> str:
        return self.display


@cache
def _common_passwords() -> frozenset[str]:
    text = resources.files("domain").joinpath("common_passwords.txt").read_text("utf-8")
    return frozenset(line for line in text.splitlines() if line and not line.startswith("#"))


def normalize_password(raw: str) -> str:
    """The form a password is hashed and verified in: NFKC, so that the same password typed on
    different keyboards or input methods matches."""
    return unicodedata.normalize("NFKC", raw)


@dataclass(frozen=True, slots=True)
class PasswordPolicy:
    """What a new password must satisfy. `check` returns the normalised password to hash.

    - 8 to 1024 code points after NFKC; the upper bound keeps hashing work bounded.
    - not in the common-password list, compared case-insensitively.
    """

    def check(self, raw: str, field: str = "password") -> str:
        password = normalize_password(raw)
        if len(password) < PASSWORD_MIN:
            raise InvalidPassword(
                "too_short", f"Password must be at least {PASSWORD_MIN} characters", field
            )
        if len(password) > PASSWORD_MAX:
            raise InvalidPassword(
                "too_long", f"Password must be at most {PASSWORD_MAX} characters", field
            )
        if unicodedata.normalize("NFKC", password.casefold()) in _common_passwords():
            raise InvalidPassword(
                "common_password",
                "Password is too common; choose one that is harder to guess",
                field,
            )
        return password


@dataclass(slots=True)
class User:
    """An account. `email` is used for nothing (no reset, no notice) until `email_verified`; a
    `disabled` account cannot log in and holds no session."""

    id: str
    username: Username
    password_hash: str = field(repr=False)
    created_at: datetime
    email: str | None = None
    email_verified: bool = False
    disabled: bool = False

    @property
    def verified_email(self) -> str | None:
        """The address mail may go to, or None."""
        return self.email if self.email_verified else None


def hash_parameters(password_hash: str) -> str:
    """The part of a PHC-format hash that names its algorithm and cost, without its salt and
    digest: `$argon2id$v=19$m=65536,t=3,p=4` of `$argon2id$v=19$m=65536,t=3,p=4$<salt>$<digest>`.
    A string with fewer than two `$` is returned whole. The stores group users by it."""
    head, sep, _ = password_hash.rpartition("$")
    parameters, sep2, _ = head.rpartition("$")
    return parameters if sep and sep2 else password_hash
