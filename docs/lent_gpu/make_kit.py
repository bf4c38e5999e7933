"""Fills .gpu/ (git-ignored) with what a reader run on the lent GPU needs and that machine lacks:
the renderer's fonts cut down to the characters stream_lpr draws (2.2 MB instead of 91), the
pip IPAex face likewise, the scene photos and go.sh. Run here, from the repository's root:

    echo /.gpu/ >> .git/info/exclude; python docs/lent_gpu/make_kit.py

Session 23 rendered 400 training plates with the full and the cut-down fonts: byte-identical.
"""

import shutil
import subprocess
import tempfile
from pathlib import Path

import matplotlib_fontja

from stream_lpr.synth import compose, fonts

KIT = Path(".gpu")


def characters() -> str:
    """Every character in stream_lpr's source: region names, kana, signs' and badges' words."""
    chars = {chr(c) for c in range(32, 127)}
    for path in Path("stream_lpr").rglob("*.py"):
        chars |= set(path.read_text(encoding="utf-8"))
    return "".join(sorted(c for c in chars if c.isprintable()))


def subset(source: Path, target: Path, text: Path, index: int) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    command = ["pyftsubset", str(source), f"--text-file={text}", f"--output-file={target}", f"--font-number={index}",
               "--layout-features=*", "--glyph-names", "--notdef-outline", "--name-IDs=*", "--name-languages=*",
               "--hinting"]
    if subprocess.run(command, capture_output=True).returncode:
        # kiloji_b.ttf's gasp table is malformed; the renderer does not need it
        subprocess.run(command + ["--drop-tables+=gasp"], check=True, capture_output=True)


def main() -> None:
    pip_fonts = Path(matplotlib_fontja.__file__).parent
    site = KIT / "site" / "matplotlib_fontja"
    shutil.rmtree(site, ignore_errors=True)
    shutil.copytree(pip_fonts, site, ignore=shutil.ignore_patterns("__pycache__", "*.ttf"))
    with tempfile.TemporaryDirectory() as tmp:
        text = Path(tmp) / "chars.txt"
        text.write_text(characters(), encoding="utf-8")
        for _, rel, index in fonts.debian_faces():
            subset(fonts._DEBIAN / rel, KIT / "fonts" / rel, text, index)
        subset(pip_fonts / "fonts" / "ipaexg.ttf", site / "fonts" / "ipaexg.ttf", text, 0)
    shutil.rmtree(KIT / "scenes", ignore_errors=True)
    shutil.copytree(compose.DEFAULT_SCENES.resolve(), KIT / "scenes")
    shutil.copy(Path(__file__).with_name("go.sh"), KIT)
    size = sum(p.stat().st_size for p in KIT.rglob("*") if p.is_file())
    print(f"{KIT}: {size / 2**20:.1f} MB")


if __name__ == "__main__":
    main()
