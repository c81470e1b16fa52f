"""Make the data shipped inside the package (src/promptbias/data/package_data/) from the shared data folder.

    python scripts/package_data.py SHARED_DATA_FOLDER [TARGET_FOLDER]

SST-5: each PTB tree file becomes a gzip TSV of (label, text), the text made by the project's own tree reader
(``promptbias.data.sst5``), so the shipped text is exactly what the reader gives for the tree file. The
Czarnowska suite and its NOTICE are copied, the suite gzip-compressed. The gzip files carry no name or time, so
the same input gives the same bytes. ``tests/test_package_data.py`` checks the shipped copy against the
shared folder when $PROMPTBIAS_DATA points at it.
"""

from __future__ import annotations

import gzip
import shutil
import sys
from pathlib import Path

from promptbias.data import sst5
from promptbias.data.location import packaged_file
from promptbias.suites.loading import CZARNOWSKA_FILE


def write_gzip(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as packed:
        packed.write(text.encode("utf-8"))


def sst5_tsv(tree_file: Path) -> str:
    frame = sst5.read_fine_trees(tree_file)
    if frame["text"].str.contains("[\t\n]").any():
        raise ValueError(f"{tree_file}: a sentence holds a tab or a line break")
    return "label\ttext\n" + "".join(f"{label}\t{text}\n" for text, label in frame.itertuples(index=False))


def main(shared: Path, target: Path) -> None:
    """Write the shipped files made from ``shared`` into ``target`` (the package's folder by default)."""
    for split, name in sst5.SPLIT_FILES.items():
        path = target / sst5.PACKAGED_FILE.format(split=split)
        write_gzip(path, sst5_tsv(shared / "sst5" / name))
        print(f"wrote {path}")
    suite = target / f"{CZARNOWSKA_FILE}.gz"
    write_gzip(suite, (shared / CZARNOWSKA_FILE).read_text(encoding="utf-8"))
    shutil.copyfile(shared / "czarnowska" / "NOTICE", suite.parent / "NOTICE")
    print(f"wrote {suite} and its NOTICE")


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) == 3 else packaged_file("."))
