"""Finds the fonts the renderer draws with, at run time, from pip and Debian packages.

Plate makers draw every plate by hand from a shared style and no official font exists, so the
renderer mixes several gothic (and one mincho) faces to keep the reader from learning one font.
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass
from pathlib import Path

from PIL import ImageFont

from stream_lpr.errors import StreamLprError

_DEBIAN = Path("/usr/share/fonts")


@dataclass(frozen=True)
class FontFace:
    path: Path
    index: int = 0  # face index inside a .ttc collection

    def load(self, size: int) -> ImageFont.FreeTypeFont:
        return _load(self.path, self.index, size)


@functools.lru_cache(maxsize=256)
def _load(path: Path, index: int, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), size, index=index)


def _pip_ipaex_gothic() -> list[FontFace]:
    try:
        import matplotlib_fontja
    except ImportError:
        return []
    path = Path(matplotlib_fontja.__file__).parent / "fonts" / "ipaexg.ttf"
    return [FontFace(path)] if path.exists() else []


# Japanese faces for region names and kana: (Debian package, file, .ttc index). The reader
# meets the plate makers' own lettering only in real photos, so it must not learn any one face:
# the more unlike gothics it sees (BIZ UD's open shapes, Motoya Cedar's soft ones), the less a
# new one surprises it.
_JAPANESE = [
    ("fonts-noto-cjk", "opentype/noto/NotoSansCJK-Bold.ttc", 0),
    ("fonts-noto-cjk", "opentype/noto/NotoSansCJK-Regular.ttc", 0),
    ("fonts-ipafont-gothic", "opentype/ipafont-gothic/ipag.ttf", 0),
    ("fonts-ipaexfont-mincho", "opentype/ipaexfont-mincho/ipaexm.ttf", 0),
    ("fonts-takao-gothic", "truetype/takao-gothic/TakaoGothic.ttf", 0),
    ("fonts-vlgothic", "truetype/vlgothic/VL-Gothic-Regular.ttf", 0),
    ("fonts-mplus", "opentype/mplus/Mplus1-Bold.otf", 0),
    ("fonts-mplus", "opentype/mplus/Mplus2-ExtraBold.otf", 0),
    ("fonts-mplus", "opentype/mplus/Mplus1-Medium.otf", 0),
    ("fonts-morisawa-bizud-gothic", "truetype/bizud-gothic/BIZUDGothic-Bold.ttf", 0),
]
# Condensed bold gothic faces for digits and Latin letters.
_DIGITS = [
    ("fonts-liberation", "truetype/liberation/LiberationSansNarrow-Bold.ttf", 0),
    ("fonts-dejavu-core", "truetype/dejavu/DejaVuSansCondensed-Bold.ttf", 0),
    ("fonts-roboto-unhinted", "truetype/roboto/unhinted/RobotoCondensed-Bold.ttf", 0),
    ("fonts-roboto-unhinted", "truetype/roboto/unhinted/RobotoCondensed-Medium.ttf", 0),
    ("fonts-mplus", "opentype/mplus/Mplus1-Bold.otf", 0),
    ("fonts-mplus", "opentype/mplus/Mplus2-ExtraBold.otf", 0),
    ("fonts-noto-cjk", "opentype/noto/NotoSansCJK-Bold.ttc", 0),
]
# Photos of real plates show the upper row (region name and class number) in a regular-weight
# gothic, thinner than the designation digits: lighter faces for that row.
_JAPANESE_LIGHT = [
    ("fonts-noto-cjk", "opentype/noto/NotoSansCJK-Regular.ttc", 0),
    ("fonts-ipafont-gothic", "opentype/ipafont-gothic/ipag.ttf", 0),
    ("fonts-takao-gothic", "truetype/takao-gothic/TakaoGothic.ttf", 0),
    ("fonts-vlgothic", "truetype/vlgothic/VL-Gothic-Regular.ttf", 0),
    ("fonts-mplus", "opentype/mplus/Mplus1-Regular.otf", 0),
    ("fonts-mplus", "opentype/mplus/Mplus1-Medium.otf", 0),
    ("fonts-mplus", "opentype/mplus/Mplus2-Medium.otf", 0),
    ("fonts-morisawa-bizud-gothic", "truetype/bizud-gothic/BIZUDGothic-Regular.ttf", 0),
    ("fonts-motoya-l-cedar", "truetype/motoya-l-cedar/MTLc3m.ttf", 0),
]
# Plate kana are drawn in a brush-derived textbook style (小松書体); these handwriting-textbook
# faces come closest, so the kana is sometimes drawn in them. Their kanji are handwriting, not
# plate lettering: kana only.
_KANA_BRUSH = [
    ("fonts-yozvox-yozfont-edu", "truetype/yozvox-yozfont/YOzBE_.ttf", 0),
    ("fonts-kiloji", "truetype/kiloji/kiloji_b.ttf", 0),
    ("fonts-klee", "truetype/klee/KleeOne-SemiBold.ttf", 0),
]
_DIGITS_LIGHT = [
    ("fonts-liberation", "truetype/liberation/LiberationSansNarrow-Regular.ttf", 0),
    ("fonts-dejavu-core", "truetype/dejavu/DejaVuSansCondensed.ttf", 0),
    ("fonts-roboto-unhinted", "truetype/roboto/unhinted/RobotoCondensed-Regular.ttf", 0),
    ("fonts-roboto-unhinted", "truetype/roboto/unhinted/RobotoCondensed-Light.ttf", 0),
    ("fonts-mplus", "opentype/mplus/Mplus1-Regular.otf", 0),
    ("fonts-mplus", "opentype/mplus/Mplus2-Medium.otf", 0),
]


def _installed(table: list[tuple[str, str, int]]) -> list[FontFace]:
    return [FontFace(_DEBIAN / rel, index) for _, rel, index in table if (_DEBIAN / rel).exists()]


def _require(faces: list[FontFace], role: str, table: list[tuple[str, str, int]]) -> list[FontFace]:
    if not faces:
        packages = " ".join(sorted({pkg for pkg, _, _ in table}))
        raise StreamLprError(
            f"no font found for {role}; install one of: apt-get install {packages} "
            "(or pip install matplotlib-fontja)"
        )
    return faces


def debian_faces() -> list[tuple[str, str, int]]:
    """Every Debian face the renderer may draw with, once: (package, path under /usr/share/fonts,
    .ttc index)."""
    tables = (_JAPANESE, _DIGITS, _JAPANESE_LIGHT, _KANA_BRUSH, _DIGITS_LIGHT)
    return sorted({face for table in tables for face in table})


def missing_packages() -> list[str]:
    """The Debian font packages the renderer draws with that this machine lacks. Without them it
    draws fewer faces, and the composed test sets differ from the documented ones (session 22's
    machine started without them: 216 plates in evaluate's photos instead of 222)."""
    return sorted({pkg for pkg, rel, _ in debian_faces() if not (_DEBIAN / rel).exists()})


def warn_if_missing() -> None:
    """One line on stderr when missing_packages() names any: for commands that render plates."""
    missing = missing_packages()
    if missing:
        print(f"warning: font packages missing (apt-get install {' '.join(missing)}): plates are drawn in "
              "fewer faces, so test sets differ from the documented ones and training sees less variety",
              file=sys.stderr)


@functools.lru_cache(maxsize=1)
def japanese_faces() -> list[FontFace]:
    """Faces that cover every region name and kana."""
    return _require(_installed(_JAPANESE) + _pip_ipaex_gothic(), "Japanese text", _JAPANESE)


@functools.lru_cache(maxsize=1)
def digit_faces() -> list[FontFace]:
    """Faces for the designation and class numbers."""
    return _require(_installed(_DIGITS) + _pip_ipaex_gothic(), "plate digits", _DIGITS)


@functools.lru_cache(maxsize=2)
def light_faces(digits: bool) -> list[FontFace]:
    """Regular-weight faces for the upper row: class-number digits, or region names."""
    table = _DIGITS_LIGHT if digits else _JAPANESE_LIGHT
    return _require(_installed(table) + _pip_ipaex_gothic(), "the upper row", table)


@functools.lru_cache(maxsize=1)
def brush_kana_faces() -> list[FontFace]:
    """Faces for the kana in the plates' brush-derived style; empty when none is installed (the
    kana then comes from japanese_faces() alone)."""
    return _installed(_KANA_BRUSH)
