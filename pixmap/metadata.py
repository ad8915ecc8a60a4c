"""Read a metadata file (CSV or JSON) and match its rows to the images.

    md = load_metadata("paintings.csv", root, sources)
    md.fields       # column names in file order, without the filename column
    md.rows[i]      # {field: value} for sources[i], or None when the file has no row for that image
    md.unmatched    # [(line, filename, reason)] rows that match no image (or are ambiguous, or duplicates)
    md.warnings     # values that could not be read (set to None), encoding fallbacks, ...

A CSV file has a header row with a `filename` column (`file`, `image` or `path` are accepted too, in
any letter case); the delimiter (comma, semicolon or tab) is detected. A JSON file is a list of objects,
an object with such a list under "images", "rows" or "data", or an object keyed by filename. A Parquet
file (.parquet, .pq) is read with pandas and pyarrow (`pip install pandas pyarrow`), its values converted as a
DataFrame's are (pixmap.frames: numbers stay numbers, datetimes become dates and years, lists tags).
A malformed file raises MetadataError naming the file and line. A bad value never fails the build:
it is set to None and reported in `warnings`.

Encodings: UTF-8 (with or without a byte order mark), UTF-16 and UTF-32 with a byte order mark, and
UTF-16 without one (recognised by its zero bytes); a file that is none of these is read as
Windows-1252 (or Latin-1) with a warning. File names are matched whatever their Unicode normalisation
(NFC or NFD, as names copied from a Mac are) and, failing an exact match, whatever their letter case.
"""
from __future__ import annotations

import codecs
import csv
import difflib
import io
import json
import logging
import math
import os
import posixpath
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from .sources import ImageSource

PIXPLOT_FIELDS = ("category", "tags", "description", "permalink", "year", "label", "lat", "lng")
KEY_COLUMNS = ("filename", "file", "image", "path")  # the column naming the image, in order of preference
JSON_LIST_KEYS = ("images", "rows", "data")

# Column names with a meaning for the viewer are matched in any letter case ("Year" -> "year").
_CANONICAL = {name: name for name in PIXPLOT_FIELDS + ("title", "date")}
_MAX_EXAMPLES = 3

MAX_FILE_BYTES = 1024 ** 3         # a bigger metadata file is refused (1 GiB)
CSV_FIELD_LIMIT = 64 * 1024 * 1024  # the longest CSV value read, in characters (Python's default: 128 KB)
MAX_JSON_DEPTH = 100               # JSON nested deeper is refused (metadata needs 3 or 4 levels)
# Suggesting the nearest file name by similarity (difflib) costs a comparison with every image name:
# it is done for the first few unmatched rows, and only for collections up to this many images.
_NEAREST_ROWS = 10
_NEAREST_MAX_IMAGES = 2000

log = logging.getLogger(__name__)


class MetadataError(Exception):
    """The metadata file cannot be read; the message names the file, the line and what to do."""


@dataclass
class Metadata:
    fields: list[str]                        # column names in file order, without "filename"
    rows: list[dict | None]                  # aligned to the sources: the row for each image, or None
    unmatched: list[tuple[int, str, str]]    # (line number, filename value, reason)
    warnings: list[str] = field(default_factory=list)

    @property
    def matched(self) -> int:
        """How many images have a row."""
        return sum(row is not None for row in self.rows)


def load_metadata(path: str | os.PathLike, root: str | os.PathLike,
                  sources: Sequence[ImageSource]) -> Metadata:
    """read_rows + match; warnings from reading the file come first in Metadata.warnings."""
    fields, rows, read_warnings = _read(path)
    md = match(path, (fields, rows), root, sources)
    md.warnings[:0] = read_warnings
    return md


def read_rows(path: str | os.PathLike) -> tuple[list[str], list[tuple[int, dict]]]:
    """(fields, [(line number, row)]) from a CSV or JSON file.

    Each row is a dict with the image's path under "filename" and the file's values under the field
    names (raw: strings from CSV, any JSON value from JSON). Warnings (e.g. an encoding fallback) are logged.
    """
    fields, rows, warnings = _read(path)
    for warning in warnings:
        log.warning(warning)
    return fields, rows


def match(path: str | os.PathLike, fields_rows: tuple[list[str], list[tuple[int, dict]]],
          root: str | os.PathLike, sources: Sequence[ImageSource]) -> Metadata:
    """Match rows (from read_rows on the file at `path`) to the images; clean their values.

    A row's filename may be a path relative to the images root, relative to the metadata file's
    folder, an absolute path, or a bare file name when only one image has that name.
    Backslashes count as '/'. When two rows name the same image the first wins.
    """
    fields, rows = fields_rows
    index = _SourceIndex(Path(path), Path(root), sources)
    cleaner = _Cleaner(fields)
    out: list[dict | None] = [None] * len(sources)
    line_of: dict[int, int] = {}
    unmatched: list[tuple[int, str, str]] = []
    for line, row in rows:
        value = row.get("filename")
        name = "" if value is None else str(value).strip()
        i, reason = index.find(name)
        if i is None:
            unmatched.append((line, name, reason))
        elif i in line_of:
            unmatched.append((line, name, f"duplicate: {sources[i].relpath} already has the row "
                                          f"on line {line_of[i]}"))
        else:
            line_of[i] = line
            out[i] = cleaner.clean(line, row)

    fields_out = cleaner.output_fields()
    if "date" in fields_out and "date" not in fields:
        for row in out:
            if row is not None:
                row.setdefault("date", None)
    warnings = cleaner.warnings()
    if rows and not line_of:
        example = sources[0].relpath if sources else "photo.jpg"
        warnings.append(
            f"{path}: none of its {len(rows)} rows matched an image; the filename column should hold "
            f"paths relative to the images folder (e.g. {example!r}) or to the metadata file's folder")
    return Metadata(fields=fields_out, rows=out, unmatched=unmatched, warnings=warnings)


# ---------------------------------------------------------------------------------------------------
# Reading

def _read(path: str | os.PathLike) -> tuple[list[str], list[tuple[int, dict]], list[str]]:
    path = Path(path)
    data = _read_bytes(path)
    if path.suffix.lower() in (".parquet", ".pq") or data.startswith(b"PAR1"):   # via pandas (pixmap.frames)
        from .frames import read_parquet_rows

        return (*read_parquet_rows(path), [])
    if data.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        raise MetadataError(f"{path} is a spreadsheet workbook (e.g. Excel), not a CSV or JSON file: "
                            f"save it as CSV (UTF-8)")
    warnings: list[str] = []
    text = _decode_text(data, path, warnings)
    if not text.strip():
        raise MetadataError(f"{path}: the metadata file is empty; it needs a header row "
                            f"with a 'filename' column")
    suffix = path.suffix.lower()
    is_json = suffix == ".json" or (suffix not in (".csv", ".tsv", ".txt")
                                    and text.lstrip()[:1] in ("[", "{"))
    if is_json:
        fields, rows = _read_json(text, path, warnings)
    else:
        fields, rows = _read_csv(text, path, warnings, "\t" if suffix == ".tsv" else None)
    return fields, rows, warnings


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, read as safely as an image is (pixmap.images.read): only a regular file (a named
    pipe would block forever, a device never end), opened non-blocking, at most MAX_FILE_BYTES."""
    from .images import ImageError, read

    try:
        return read(path, max_bytes=MAX_FILE_BYTES)
    except ImageError as exc:
        reason = str(exc)
        if reason == "file not found":
            raise MetadataError(f"metadata file not found: {path}") from None
        raise MetadataError(f"cannot read the metadata file {path}: {reason}; "
                            "give the metadata file (CSV or JSON)") from None


def _decode_text(data: bytes, path: Path, warnings: list[str]) -> str:
    for bom, encoding in ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                          (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):  # UTF-32 first: its little-endian mark starts like UTF-16's
            return _decode_unicode(data, encoding, path)
    if b"\x00" in data[:4096]:
        return _decode_without_bom(data, path, warnings)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        try:
            text, encoding = data.decode("cp1252"), "Windows-1252"
        except UnicodeDecodeError:
            text, encoding = data.decode("latin-1"), "Latin-1"
        warnings.append(f"{path}, line {line}: the file is not valid UTF-8; it was read as {encoding}. "
                        f"Save it as UTF-8 if accented letters look wrong.")
        return text


def _decode_unicode(data: bytes, encoding: str, path: Path) -> str:
    """UTF-16 or UTF-32 (with a byte order mark), or MetadataError naming the line of a bad byte."""
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as e:
        line = data[:e.start].decode(encoding, "replace").count("\n") + 1
        raise MetadataError(f"{path}, line {line}: the file starts like {encoding.upper()} text but is not "
                            f"valid {encoding.upper()} ({e.reason}). Save it as CSV UTF-8.") from None


def _decode_without_bom(data: bytes, path: Path, warnings: list[str]) -> str:
    """Text with zero bytes in it: UTF-16 without a byte order mark (ASCII letters then alternate with
    zero bytes), else a binary file, which MetadataError says."""
    head = data[:4096]
    even_zeros, odd_zeros = head[0::2].count(0), head[1::2].count(0)
    if max(even_zeros, odd_zeros) >= len(head) // 4 and min(even_zeros, odd_zeros) <= len(head) // 50:
        encoding = "utf-16-le" if odd_zeros > even_zeros else "utf-16-be"
        text = _decode_unicode(data, encoding, path)
        warnings.append(f"{path}: the file is UTF-16 without a byte order mark; it was read as "
                        f"{encoding.upper()}. Save it as UTF-8 to be sure it is read right.")
        return text
    line = data.count(b"\n", 0, data.index(b"\x00")) + 1
    raise MetadataError(f"{path}, line {line}: the file contains zero bytes, so it is not a text file "
                        f"(CSV or JSON); it may be a binary or damaged file. Save the metadata as CSV UTF-8.")


def _sniff_delimiter(text: str) -> str:
    """The delimiter among , ; and tab that splits the header row into the most columns."""
    header = next((line for line in io.StringIO(text) if line.strip()), "")
    best, best_count = ",", 1
    for delimiter in (",", ";", "\t"):
        count = len(next(csv.reader([header], delimiter=delimiter), []))
        if count > best_count:
            best, best_count = delimiter, count
    return best


def _read_csv(text: str, path: Path, warnings: list[str],
              delimiter: str | None) -> tuple[list[str], list[tuple[int, dict]]]:
    """_read_csv_rows with the csv module's limit on a value's length raised to CSV_FIELD_LIMIT.

    That limit is global to the csv module, so it is restored afterwards (a CSV read in another thread
    at the same time sees the raised limit meanwhile, which does no harm).
    """
    saved = csv.field_size_limit()
    csv.field_size_limit(max(saved, CSV_FIELD_LIMIT))
    try:
        return _read_csv_rows(text, path, warnings, delimiter)
    finally:
        csv.field_size_limit(saved)


def _read_csv_rows(text: str, path: Path, warnings: list[str],
                   delimiter: str | None) -> tuple[list[str], list[tuple[int, dict]]]:
    delimiter = delimiter or _sniff_delimiter(text)
    shown = {"\t": "tab", ",": "comma", ";": "semicolon"}[delimiter]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    header: list[str] | None = None
    header_line = 0
    key = 0
    columns: list[tuple[int, str]] = []   # (cell index, field name)
    fields: list[str] = []
    unnamed: set[int] = set()             # columns without a name (warned about once, if they hold values)
    rows: list[tuple[int, dict]] = []
    while True:
        line = reader.line_num + 1  # the line this row starts on
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            if "field larger than field limit" in str(e):
                limit = csv.field_size_limit()
                raise MetadataError(
                    f"{path}, line {line}: a value in the row that starts on this line is longer than "
                    f"{limit} characters ({limit / 1024 ** 2:.3g} MB), the most pixmap reads in one CSV "
                    f"value. If the value should not be that long, a quote is probably not closed "
                    f"there.") from None
            if "unexpected end of data" in str(e):
                raise MetadataError(
                    f"{path}, line {line}: a quoted value that starts on this line never ends "
                    f"(unterminated '\"'). Close the quote, or write a quote inside a value "
                    f"as \"\".") from None
            raise MetadataError(f"{path}, line {reader.line_num}: malformed CSV ({e}). Quote values that "
                                f"contain quotes, and write a quote inside a value as \"\".") from None
        if not any(cell.strip() for cell in cells):
            continue  # blank line
        if header is None:
            header, header_line = [cell.strip() for cell in cells], line
            key = _key_column(header, path, line)
            columns, fields = _columns(header, key)
            for i, name in columns:
                if name.lower() != header[i].lower():
                    warnings.append(f"{path}, line {line}: the column name {header[i]!r} is used twice; "
                                    f"column {i + 1} is named {name!r}")
            unnamed = {i for i, name in enumerate(header) if not name and i != key}
            continue
        for i in sorted(i for i in unnamed if i < len(cells) and cells[i].strip()):
            warnings.append(f"{path}, line {line}: column {i + 1} has no name in the header, so its "
                            f"values are ignored; give it a name to keep them")
            unnamed.discard(i)
        if len(cells) > len(header):
            if any(cell.strip() for cell in cells[len(header):]):
                raise MetadataError(
                    f"{path}, line {line}: this row has {len(cells)} cells but the header (line "
                    f"{header_line}) has {len(header)} columns. A value probably contains an unquoted "
                    f"{shown}: put quotes around it.")
        row = {"filename": cells[key] if key < len(cells) else ""}
        for i, name in columns:
            row[name] = cells[i] if i < len(cells) else ""
        rows.append((line, row))
    if header is None:
        raise MetadataError(f"{path}: the metadata file is empty; it needs a header row "
                            f"with a 'filename' column")
    return fields, rows


def _key_column(header: list[str], path: Path, line: int) -> int:
    lowered = [name.lower() for name in header]
    for name in KEY_COLUMNS:
        if name in lowered:
            return lowered.index(name)
    hint = ""
    if any(cell.lower().endswith((".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp")) for cell in header):
        hint = " The first line looks like data: the file needs a header row first."
    raise MetadataError(
        f"{path}, line {line}: no filename column (the header has: {', '.join(header) or 'nothing'}). "
        f"Add or rename the column that holds each image's path to 'filename'.{hint}")


def _columns(header: list[str], key: int) -> tuple[list[tuple[int, str]], list[str]]:
    """[(cell index, field name)] and the field names, for the named header cells other than the key.

    A name used twice gets a suffix: note, note_2.
    """
    columns, fields, seen = [], [], set()
    for i, raw in enumerate(header):
        if i == key or not raw:
            continue
        name = _CANONICAL.get(raw.lower(), raw)
        if name in seen or name == "filename":
            n = 2
            while f"{name}_{n}" in seen:
                n += 1
            name = f"{name}_{n}"
        seen.add(name)
        columns.append((i, name))
        fields.append(name)
    return columns, fields


class _Lines:
    """Line numbers of positions in a text, for positions asked in increasing order (O(n) in all)."""

    def __init__(self, text: str):
        self.text, self.pos, self.line = text, 0, 1

    def at(self, pos: int) -> int:
        if pos < self.pos:
            self.pos, self.line = 0, 1
        self.line += self.text.count("\n", self.pos, pos)
        self.pos = pos
        return self.line


_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


def _skip(text: str, pos: int) -> int:
    return _WS.match(text, pos).end()


def _json_array(text: str, pos: int) -> list[tuple[int, Any]]:
    """[(position, value)] for the items of the (valid) JSON array starting at text[pos] == '['."""
    items = []
    pos = _skip(text, pos + 1)
    while text[pos] != "]":
        value, end = _DECODER.raw_decode(text, pos)
        items.append((pos, value))
        pos = _skip(text, end)
        if text[pos] == ",":
            pos = _skip(text, pos + 1)
    return items


def _json_object(text: str, pos: int) -> list[tuple[int, str, int, Any]]:
    """[(key position, key, value position, value)] for the members of the (valid) JSON object at pos."""
    members = []
    pos = _skip(text, pos + 1)
    while text[pos] != "}":
        key, end = _DECODER.raw_decode(text, pos)
        value_pos = _skip(text, _skip(text, end) + 1)  # past the ':'
        value, end = _DECODER.raw_decode(text, value_pos)
        members.append((pos, key, value_pos, value))
        pos = _skip(text, end)
        if text[pos] == ",":
            pos = _skip(text, pos + 1)
    return members


def _json_depth(value: Any, limit: int) -> int:
    """How deeply lists and objects nest in value (1 for a flat list), counted no further than
    limit + 1, and without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > limit:
            break
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _read_json(text: str, path: Path, warnings: list[str]) -> tuple[list[str], list[tuple[int, dict]]]:
    too_deep = (f"{path}: the JSON is nested too deeply (more than {MAX_JSON_DEPTH} levels of lists and "
                f"objects); metadata needs a list of objects whose values are text, numbers or lists")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as e:
        raise MetadataError(f"{path}, line {e.lineno}, column {e.colno}: not valid JSON ({e.msg}). "
                            f"Look for a missing comma, quote or bracket there.") from None
    except RecursionError:  # json nests a Python call per level
        raise MetadataError(too_deep) from None
    except ValueError as e:  # e.g. an integer with more digits than Python converts
        raise MetadataError(f"{path}: a value cannot be read ({e})") from None
    if _json_depth(document, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise MetadataError(too_deep)
    del document
    lines = _Lines(text)
    start = _skip(text, 0)
    items: list[tuple[int, Any]]
    keyed = False
    if text[start] == "[":
        items = _json_array(text, start)
    elif text[start] == "{":
        members = _json_object(text, start)
        lists = [m for m in members if m[1].lower() in JSON_LIST_KEYS and isinstance(m[3], list)]
        if lists:
            items = _json_array(text, lists[0][2])
        elif all(isinstance(m[3], dict) for m in members):
            keyed = True
            items = [(key_pos, {"filename": key,
                                **{k: v for k, v in value.items() if k.lower() != "filename"}})
                     for key_pos, key, _, value in members]
        else:
            bad = next(m for m in members if not isinstance(m[3], dict))
            raise MetadataError(
                f"{path}, line {lines.at(bad[0])}: expected a list of objects, an object with an "
                f"\"images\" list, or an object keyed by filename whose values are objects; "
                f"the value of {bad[1]!r} is not an object")
    else:
        raise MetadataError(f"{path}, line {lines.at(start)}: expected a list of objects such as "
                            f"[{{\"filename\": \"a.jpg\", \"title\": \"...\"}}]")

    for n, (pos, item) in enumerate(items, 1):
        if not isinstance(item, dict):
            raise MetadataError(f"{path}, line {lines.at(pos)}: item {n} is not an object; expected "
                                f"objects such as {{\"filename\": \"a.jpg\", \"title\": \"...\"}}")

    key_name = "filename"
    if not keyed:
        present = {k.lower() for _, item in items for k in item}
        key_name = next((name for name in KEY_COLUMNS if name in present), None)
        if key_name is None and items:
            raise MetadataError(f"{path}, line {lines.at(items[0][0])}: the objects have no "
                                f"'filename' key; add one holding each image's path")
    rename: dict[str, str] = {}   # JSON key -> field name
    fields: list[str] = []
    rows: list[tuple[int, dict]] = []
    for pos, item in items:
        row: dict[str, Any] = {"filename": None}
        has_key = False
        for k, v in item.items():
            if not has_key and k.lower() == key_name:
                row["filename"], has_key = v, True
                continue
            name = rename.get(k)
            if name is None:
                name = _CANONICAL.get(k.lower(), k)
                if name == "filename":
                    name = "filename_2"
                rename[k] = name
                if name not in fields:
                    fields.append(name)
            row[name] = v
        rows.append((lines.at(pos), row))
    return fields, rows


# ---------------------------------------------------------------------------------------------------
# Matching

class _SourceIndex:
    """Finds the image a filename value names; every look-up is a dict look-up.

    Names are tried exactly first, then NFC-normalised (a name typed on one system and a file copied
    from a Mac differ in normalisation: "é" as one character or as "e" and an accent), then also
    without letter case. A value that matches no image gets a reason with the nearest image name.
    """

    def __init__(self, metadata_path: Path, root: Path, sources: Sequence[ImageSource]):
        self.sources = sources
        self.root = os.path.abspath(root)
        self.md_dir = os.path.dirname(os.path.abspath(metadata_path))
        names = [posixpath.basename(s.relpath) for s in sources]
        self.by_rel = {s.relpath: i for i, s in enumerate(sources)}
        self.by_abs = {os.path.normcase(os.path.abspath(s.path)): i for i, s in enumerate(sources)}
        self.by_abs_nfc = _unique_index(_nfc(path) for path in self.by_abs)
        self.by_real: dict[str, int] | None = None  # built on first need (it costs a stat per image)
        self.by_name = _unique_index(names)
        self.by_rel_nfc = _unique_index(_nfc(s.relpath) for s in sources)
        self.by_name_nfc = _unique_index(_nfc(name) for name in names)
        self.by_rel_folded = _unique_index(_fold(s.relpath) for s in sources)
        self.by_name_folded = _unique_index(_fold(name) for name in names)
        self.name_counts = Counter(_fold(name) for name in names)
        # For the reason of a value that matches nothing: the images by name without extension.
        self.by_rel_stem = _unique_index(_fold(posixpath.splitext(s.relpath)[0]) for s in sources)
        self.by_name_stem = _unique_index(_fold(posixpath.splitext(name)[0]) for name in names)
        self.folded_names = [_fold(name) for name in names] if len(sources) <= _NEAREST_MAX_IMAGES else []
        self.nearest_left = _NEAREST_ROWS

    def find(self, name: str) -> tuple[int | None, str]:
        """(index, "") or (None, reason)."""
        if not name:
            return None, "no filename"
        value = name.replace("\\", "/")
        is_abs = value.startswith("/") or re.match(r"[A-Za-z]:/", value) is not None
        rel = posixpath.normpath(value)
        if not is_abs and rel in self.by_rel:
            return self.by_rel[rel], ""
        found = self._by_path(value if is_abs else os.path.join(self.md_dir, rel))
        if found is not None:
            return found, ""
        base = posixpath.basename(rel)
        for table, key in ((self.by_name, base), (self.by_rel_nfc, _nfc(rel)),
                           (self.by_name_nfc, _nfc(base)), (self.by_rel_folded, _fold(rel)),
                           (self.by_name_folded, _fold(base))):
            i = table.get(key, -1)
            if i >= 0:
                return i, ""
        count = self.name_counts.get(_fold(base), 0)
        if count > 1:
            return None, (f"ambiguous: {count} images are named {base!r}; give the path relative to "
                          f"the images folder instead")
        return None, self._no_match_reason(rel, base)

    def _by_path(self, path: str) -> int | None:
        path = os.path.normcase(os.path.normpath(path))
        i = self.by_abs.get(path)
        if i is not None:
            return i
        i = self.by_abs_nfc.get(_nfc(path), -1)
        if i >= 0:
            return i
        if not os.path.exists(path):
            return None
        if self.by_real is None:
            self.by_real = {os.path.realpath(s.path): i for i, s in enumerate(self.sources)}
        return self.by_real.get(os.path.realpath(path))

    def _no_match_reason(self, rel: str, base: str) -> str:
        """"no image with this path or file name", and the nearest image name and how the names differ."""
        reason = "no image with this path or file name"
        shown, name = rel, None  # the value's part compared with the nearest image's path or name
        i = self.by_rel_stem.get(_fold(posixpath.splitext(rel)[0]), -1)
        if i >= 0:
            name = self.sources[i].relpath
        else:
            shown = base
            i = self.by_name_stem.get(_fold(posixpath.splitext(base)[0]), -1)
            if i < 0 and self.folded_names and self.nearest_left > 0:
                self.nearest_left -= 1
                close = difflib.get_close_matches(_fold(base), self.folded_names, n=1, cutoff=0.6)
                i = self.folded_names.index(close[0]) if close else -1
            if i >= 0:
                name = posixpath.basename(self.sources[i].relpath)
        if name is None:
            return reason
        nearest = f"{reason}; the nearest image is {self.sources[i].relpath!r}"
        ways = _how_names_differ(shown, name)
        return f"{nearest}: the names differ only in {' and '.join(ways)}" if ways else nearest


_NORMALISATION = "Unicode normalisation (NFC and NFD, e.g. names copied from a Mac)"


def _how_names_differ(a: str, b: str) -> list[str]:
    """How two file names differ: some of "the extension", "letter case" and Unicode normalisation,
    or [] when they differ in more than these (or not at all)."""
    stem_a, ext_a = posixpath.splitext(a)
    stem_b, ext_b = posixpath.splitext(b)
    ways = []
    if ext_a.lower() != ext_b.lower():
        ways.append("the extension")
        a, b = stem_a, stem_b  # compare the rest
    if a != b:
        if _nfc(a) == _nfc(b):
            ways.append(_NORMALISATION)
        elif _fold(a) == _fold(b):
            ways.append("letter case")
            if a.casefold() != b.casefold():
                ways.append(_NORMALISATION)
        else:
            return []
    return ways


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _fold(text: str) -> str:
    """For comparing names without Unicode normalisation or letter case."""
    return unicodedata.normalize("NFC", text).casefold()


def _unique_index(keys) -> dict[str, int]:
    """key -> index of the only item with that key, or -1 when several items have it."""
    index: dict[str, int] = {}
    for i, key in enumerate(keys):
        index[key] = -1 if key in index else i
    return index


# ---------------------------------------------------------------------------------------------------
# Values

_YEAR_EXACT = re.compile(r"\s*(\d{1,4})(?:\.0*)?\s*")


class _Cleaner:
    """Cleans the values of matched rows; collects what could not be read."""

    def __init__(self, fields: list[str]):
        self.fields = fields
        self.has_date = "date" in fields
        self.date_used = False
        self.problems: dict[str, list] = {}   # field -> [count, [(line, value), ...]]

    def clean(self, line: int, row: dict) -> dict:
        out = {name: _plain(row.get(name)) for name in self.fields}
        if "tags" in out:
            out["tags"] = _tags(row.get("tags"))
        if "year" in out and out["year"] is not None:
            raw = out["year"]
            year, exact = _year(raw)
            if year is None:
                self._problem("year", line, raw)
            out["year"] = year
            if not exact and not self.has_date:
                out["date"] = str(raw)  # keep the original text ("c. 1884", "unknown")
                self.date_used = True
        for name, limit in (("lat", 90.0), ("lng", 180.0)):
            if name in out and out[name] is not None:
                number = _coordinate(out[name], limit)
                if number is None:
                    self._problem(name, line, out[name])
                out[name] = number
        return out

    def output_fields(self) -> list[str]:
        fields = list(self.fields)
        if self.date_used:
            fields.insert(fields.index("year") + 1, "date")
        return fields

    def warnings(self) -> list[str]:
        what = {"year": "a year", "lat": "a latitude", "lng": "a longitude"}
        out = []
        for name, (count, examples) in self.problems.items():
            shown = ", ".join(f"line {line}: {value!r}" for line, value in examples)
            more = ", ..." if count > len(examples) else ""
            kept = "; the text is kept in the 'date' field" if name == "year" and self.date_used else ""
            out.append(f"{count} {name} value{'s' if count > 1 else ''} could not be read as {what[name]} "
                       f"and {'were' if count > 1 else 'was'} set to null ({shown}{more}){kept}")
        return out

    def _problem(self, name: str, line: int, value: Any) -> None:
        entry = self.problems.setdefault(name, [0, []])
        entry[0] += 1
        if len(entry[1]) < _MAX_EXAMPLES:
            entry[1].append((line, value))


def _plain(value: Any) -> Any:
    """Strings stripped ("" -> None); NaN/inf -> None; lists and objects as compact JSON text."""
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")) if value else None
    return value


def _tags(value: Any) -> list[str] | None:
    if value is None:
        return None
    parts = value if isinstance(value, list) else str(value).split("|")
    tags = [str(part).strip() for part in parts if part is not None and str(part).strip()]
    return tags or None


def _year(value: Any) -> tuple[int | None, bool]:
    """(year, exact): the year as the date layout reads it (pixmap.layouts.date.parse_year: "c. 1884",
    "1884-86", "500 BC", "19th century"...), exact when the value is just a number ("1884")."""
    from .layouts.date import parse_year

    if isinstance(value, bool):
        return None, False
    if isinstance(value, float) and not value.is_integer():
        return None, False
    exact = isinstance(value, (int, float)) or _YEAR_EXACT.fullmatch(str(value)) is not None
    return parse_year(value), exact


def _coordinate(value: Any, limit: float) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    else:
        text = str(value).strip()
        if "," in text and "." not in text:
            text = text.replace(",", ".")  # decimal comma
        try:
            number = float(text)
        except ValueError:
            return None
    if not math.isfinite(number) or abs(number) > limit:
        return None
    return number
