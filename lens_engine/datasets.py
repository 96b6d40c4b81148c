"""Read CSV, TSV and JSONL datasets into records that know where they came from.

The reader streams: it holds one record (plus, for CSV, one quoted field that
spans lines, capped by ``max_record_chars``) at a time, so a file of any size is
read in bounded memory.  Every field keeps the exact source range of its value
(LSP positions), and a malformed row or line becomes a :class:`ParseProblem`
at its location while the rest of the file is still read.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Iterable, Iterator
from functools import lru_cache
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .source import LINE_BREAK, Position, Range, utf16_len

FORMATS = ("csv", "tsv", "jsonl")
_EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".jsonlines": "jsonl",
}
SNIFF_BYTES = 64 * 1024
DEFAULT_MAX_RECORD_CHARS = 32 * 1024 * 1024
MAX_ENCODING_PROBLEMS = 20


class DatasetError(Exception):
    """A dataset that cannot be read at all (binary, unknown format, missing)."""

    def __init__(self, message: str, path: str | None = None, position: Position | None = None):
        self.path = path
        self.position = position
        where = path or "<text>"
        if position is not None:
            where += f":{position.line + 1}:{position.character + 1}"
        super().__init__(f"{where}: {message}")
        self.message = message


@dataclass(frozen=True, slots=True)
class ParseProblem:
    """A row or line that could not be read as it should; ``row`` is None when it
    never became a data row (e.g. an unterminated quote swallowed it)."""

    message: str
    range: Range
    row: int | None = None
    kind: str = "parse"  # "parse" | "encoding"


@dataclass(slots=True)
class FieldValue:
    """One field's decoded text and the source range of its raw value."""

    text: str
    range: Range
    # The raw source of the value when it differs from ``text`` (escapes such as
    # "" in CSV or \\n in JSON); needed to map offsets in ``text`` back to the file.
    raw: str | None = None
    escape: str = ""  # "csv" | "json" | ""

    def position_at(self, offset: int) -> Position:
        """Source position of character ``offset`` of :attr:`text`."""
        if self.raw is None:
            prefix = self.text[:offset]
        else:
            prefix = self.raw[: _raw_offset(self.raw, offset, self.escape, self.text)]
        breaks = list(LINE_BREAK.finditer(prefix))
        if not breaks:
            return Position(self.range.start.line, self.range.start.character + utf16_len(prefix))
        return Position(self.range.start.line + len(breaks), utf16_len(prefix[breaks[-1].end():]))

    def span_range(self, start: int, end: int) -> Range:
        text = self.text
        if self.raw is None and text.isascii() and "\n" not in text and "\r" not in text:
            # One line, no escapes, no astral characters: offsets are columns (phrase findings, fast).
            line, column = self.range.start.line, self.range.start.character
            return Range(Position(line, column + start), Position(line, column + end))
        return Range(self.position_at(start), self.position_at(end))


@dataclass(slots=True)
class Record:
    """One data row: 0-based index among data rows (header excluded)."""

    index: int
    fields: dict[str, FieldValue]
    range: Range  # the whole row, from its first character to the start of the next row
    byte_offset: int = -1

    def text(self, column: str) -> str | None:
        value = self.fields.get(column)
        return value.text if value is not None else None


@dataclass
class Table:
    """A whole dataset in memory: fine for training files and editor buffers."""

    path: str | None
    format: str
    columns: list[str]
    records: list[Record]
    problems: list[ParseProblem]
    encoding: str
    delimiter: str | None = None


def _raw_offset(raw: str, offset: int, escape: str, text: str) -> int:
    """Offset in ``raw`` of decoded character ``offset``."""
    if escape == "csv":
        # Each "" in the raw value is one " in the text.
        i = j = 0
        while j < offset and i < len(raw):
            i += 2 if raw.startswith('""', i) else 1
            j += 1
        return i
    if escape == "json":
        i = j = 0
        while j < offset and i < len(raw):
            if raw[i] == "\\":
                if raw.startswith("\\u", i):
                    code = int(raw[i + 2 : i + 6], 16)
                    i += 6
                    # A surrogate pair is one character in Python's text.
                    if 0xD800 <= code < 0xDC00 and raw.startswith("\\u", i):
                        i += 6
                else:
                    i += 2
            else:
                i += 1
            j += 1
        return i
    return offset


# ---------------------------------------------------------------------------
# Decoding


@dataclass
class _Decoded:
    lines: Iterator[tuple[str, int]]  # (line with terminator, byte offset)
    encoding: str
    problems: list[ParseProblem]


def _detect_binary(sample: bytes, path: str | None) -> None:
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return
    nul = sample.find(b"\x00")
    if nul >= 0:
        raise DatasetError(
            f"this is not a text file (a NUL byte at byte offset {nul}); "
            "Lens reads CSV, TSV and JSONL text files",
            path,
        )


def _byte_lines(stream: BinaryIO) -> Iterator[tuple[bytes, int]]:
    offset = 0
    for chunk in stream:
        yield chunk, offset
        offset += len(chunk)


def _split_lsp_lines(text: str, byte_offset: int, encoding: str) -> Iterator[tuple[str, int]]:
    """Binary lines split only on \\n; LSP also breaks on a lone \\r."""
    if "\r" not in text or (text.endswith("\r\n") and "\r" not in text[:-2]):
        yield text, byte_offset
        return
    pos = 0
    for m in LINE_BREAK.finditer(text):
        piece = text[pos : m.end()]
        yield piece, byte_offset
        byte_offset += len(piece.encode(encoding, errors="replace"))
        pos = m.end()
    if pos < len(text):
        yield text[pos:], byte_offset


def _decode_stream(stream: BinaryIO, path: str | None) -> _Decoded:
    """Decode line by line; a file that is not UTF-8 is read with the encoding
    charset-normalizer guesses, and the first undecodable byte is reported."""
    sample = stream.read(SNIFF_BYTES)
    _detect_binary(sample, path)
    problems: list[ParseProblem] = []

    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        rest = stream.read()
        text = (sample + rest).decode("utf-16")
        return _Decoded(((line, -1) for line in _iter_text_lines(text)), "utf-16", problems)

    encoding = "utf-8"
    skip = 3 if sample.startswith(codecs.BOM_UTF8) else 0
    try:
        # A multi-byte character may be cut at the sample's end: ignore that tail.
        sample.decode("utf-8")
    except UnicodeDecodeError as err:
        if err.start < len(sample) - 4:
            encoding = _guess_encoding(sample)

    source = io.BufferedReader(_Prefixed(sample, stream))

    def lines() -> Iterator[tuple[str, int]]:
        first = True
        line_no = 0
        for raw, offset in _byte_lines(source):
            if first and skip:
                raw, offset = raw[skip:], offset + skip
            first = False
            try:
                text = raw.decode(encoding)
            except UnicodeDecodeError as err:
                text = raw.decode("cp1252", errors="replace")
                if len(problems) < MAX_ENCODING_PROBLEMS:
                    col = utf16_len(raw[: err.start].decode(encoding, errors="replace"))
                    problems.append(
                        ParseProblem(
                            f"byte 0x{raw[err.start]:02x} is not valid {encoding}; "
                            "this line was read as cp1252",
                            Range(Position(line_no, col), Position(line_no, col + 1)),
                            kind="encoding",
                        )
                    )
            for piece, piece_offset in _split_lsp_lines(text, offset, encoding):
                yield piece, piece_offset
                line_no += 1

    if encoding != "utf-8":
        bad = _first_bad_utf8(sample)
        problems.append(
            ParseProblem(
                f"the file is not UTF-8 (first invalid byte 0x{sample[bad[2]]:02x}); "
                f"it was read as {encoding}. Re-save it as UTF-8 to silence this",
                Range(Position(bad[0], bad[1]), Position(bad[0], bad[1] + 1)),
                kind="encoding",
            )
        )
    return _Decoded(lines(), encoding, problems)


class _Prefixed(io.RawIOBase):
    """A raw stream that first replays bytes already read for sniffing."""

    def __init__(self, prefix: bytes, rest: BinaryIO):
        self._prefix = memoryview(prefix)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        if len(self._prefix):
            n = min(len(buffer), len(self._prefix))
            buffer[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        data = self._rest.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        return n


def _first_bad_utf8(sample: bytes) -> tuple[int, int, int]:
    try:
        sample.decode("utf-8")
        return (0, 0, 0)
    except UnicodeDecodeError as err:
        before = sample[: err.start]
        line = len(LINE_BREAK.findall(before.decode("utf-8", errors="replace")))
        last = max(before.rfind(b"\n"), before.rfind(b"\r"))
        col = utf16_len(before[last + 1 :].decode("utf-8", errors="replace"))
        return (line, col, err.start)


def _guess_encoding(sample: bytes) -> str:
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    name = best.encoding if best is not None else "cp1252"
    # On a small sample the guess among single-byte Latin code pages is noise;
    # cp1252 (a superset of Latin-1's printable range) is by far the likeliest.
    if name.startswith(("cp125", "latin", "iso8859", "mac_", "ascii")):
        return "cp1252"
    return name


def _iter_text_lines(text: str) -> Iterator[str]:
    pos = 0
    for m in LINE_BREAK.finditer(text):
        yield text[pos : m.end()]
        pos = m.end()
    if pos < len(text):
        yield text[pos:]


def _decode_text(text: str, path: str | None) -> _Decoded:
    nul = text.find("\x00", 0, SNIFF_BYTES)
    if nul >= 0:
        raise DatasetError(
            f"this is not a text file (a NUL character at offset {nul}); "
            "Lens reads CSV, TSV and JSONL text files",
            path,
        )
    # A BOM in a buffer stays in place: it is a character of the document, so
    # positions count it; the header and JSON parsing skip it.
    return _Decoded(((line, -1) for line in _iter_text_lines(text)), "utf-8", [])


# ---------------------------------------------------------------------------
# Format and dialect


def detect_format(path: str | None, sample_text: str) -> str:
    if path:
        ext = Path(path).suffix.lower()
        if ext in _EXTENSIONS:
            return _EXTENSIONS[ext]
    stripped = sample_text.lstrip("\ufeff \t\r\n")
    if stripped.startswith("{") or stripped.startswith("["):
        return "jsonl"
    first = stripped.split("\n", 1)[0]
    if first.count("\t") > first.count(","):
        return "tsv"
    return "csv"


def sniff_delimiter(sample_text: str, fmt: str) -> str:
    if fmt == "tsv":
        return "\t"
    return _sniffed_delimiter(sample_text[:SNIFF_BYTES])


@lru_cache(maxsize=64)  # an editor re-reads the same buffer after every edit; sniffing took 60 ms
def _sniffed_delimiter(sample_text: str) -> str:
    try:
        dialect = csv.Sniffer().sniff(sample_text, delimiters=",;\t|")
        delimiter = dialect.delimiter
    except csv.Error:
        return ","
    # The sniffer can pick a character that only appears inside text; trust it
    # only when it splits the header into several columns.
    header = sample_text.split("\n", 1)[0]
    if delimiter != "," and header.count(delimiter) == 0:
        return ","
    if delimiter != "," and header.count(",") > header.count(delimiter):
        return ","
    return delimiter


# ---------------------------------------------------------------------------
# CSV


class _CsvScanner:
    """Splits physical lines into records and records into fields with offsets.

    Follows the csv module's default dialect: a quote opens a quoted field only
    at the field's start, "" inside one is a literal quote, and a quote inside an
    unquoted field is literal.
    """

    def __init__(self, delimiter: str, quote: str = '"'):
        d, q = re.escape(delimiter), re.escape(quote)
        self.delimiter, self.quote = delimiter, quote
        # Unrolled ([^"]*(""[^"]*)*), far faster than an alternation tried per character.
        self._quoted_body = re.compile(f"[^{q}]*(?:{q}{q}[^{q}]*)*")
        self._unquoted = re.compile(f"[^{d}\\r\\n]*")

    def line_opens_quote(self, line: str, in_quotes: bool) -> bool:
        """Whether a quoted field is still open at the end of ``line``."""
        q, d = self.quote, self.delimiter
        if q not in line:  # most lines: nothing opens or closes here
            return in_quotes
        pos, n = 0, len(line)
        if in_quotes:
            pos = self._quoted_body.match(line, pos).end()
            if pos >= n:
                return True
            pos = self._unquoted.match(line, pos + 1).end()
            if pos < n and line[pos] == d:
                pos += 1
            else:
                return False
        while True:
            if pos < n and line[pos] == q:
                pos = self._quoted_body.match(line, pos + 1).end()
                if pos >= n:
                    return True
                pos = self._unquoted.match(line, pos + 1).end()
            else:
                pos = self._unquoted.match(line, pos).end()
            if pos < n and line[pos] == d:
                pos += 1
                continue
            return False

    def fields(self, record: str) -> list[tuple[str, int, int, bool]]:
        """(value, raw start, raw end, escaped) for each field of a complete record."""
        out: list[tuple[str, int, int, bool]] = []
        pos, n = 0, len(record)
        q, d = self.quote, self.delimiter
        while True:
            if pos < n and record[pos] == q:
                body = self._quoted_body.match(record, pos + 1)
                start, end = pos + 1, body.end()
                raw = body.group()
                value = raw.replace(q + q, q)
                pos = min(end + 1, n)
                tail = self._unquoted.match(record, pos)
                if tail.group():
                    value += tail.group()
                    end = tail.end()
                pos = tail.end()
                out.append((value, start, end, value != record[start:end]))
            else:
                m = self._unquoted.match(record, pos)
                out.append((m.group(), pos, m.end(), False))
                pos = m.end()
            if pos < n and record[pos] == d:
                pos += 1
                continue
            return out


def _offset_to_position(line_starts: list[int], lines: list[str], base_line: int, offset: int) -> Position:
    # Records are a few lines at most; a linear scan beats bisect set-up here.
    i = len(line_starts) - 1
    while line_starts[i] > offset:
        i -= 1
    return Position(base_line + i, utf16_len(lines[i][: offset - line_starts[i]]))


def _unique_header(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for i, name in enumerate(names):
        name = name.strip() or f"column_{i + 1}"
        if name in seen:
            seen[name] += 1
            name = f"{name}_{seen[name]}"
        else:
            seen[name] = 1
        out.append(name)
    return out


def _strip_terminator(line: str) -> str:
    if line.endswith("\r\n"):
        return line[:-2]
    if line.endswith(("\n", "\r")):
        return line[:-1]
    return line


# ---------------------------------------------------------------------------
# JSONL value positions

_JSON_TOKEN = re.compile(
    r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<punct>[{}\[\]:,])|(?P<lit>-?\d[\d.eE+-]*|true|false|null))'
)


def _json_value_spans(line: str, wanted: set[str]) -> dict[str, tuple[int, int]]:
    """Offsets of the raw values of the dotted key paths in ``wanted``.

    String spans exclude the quotes.  Only objects are walked; array elements are
    addressed by index (``a.0.b``).
    """
    spans: dict[str, tuple[int, int]] = {}
    stack: list[list] = []  # [kind, key or index, expecting_key]
    path: list[str] = []
    pending_key: str | None = None
    pos, n = 0, len(line)
    while pos < n and len(spans) < len(wanted):
        m = _JSON_TOKEN.match(line, pos)
        if not m:
            break
        pos = m.end()
        if m.group("punct"):
            p = m.group("punct")
            if p in "{[":
                if stack:
                    path.append(pending_key if stack[-1][0] == "obj" else str(stack[-1][1]))
                stack.append(["obj" if p == "{" else "arr", 0, True])
                pending_key = None
            elif p in "}]":
                stack.pop()
                if path:
                    path.pop()
            elif p == ":":
                stack[-1][2] = False
            elif p == ",":
                if stack and stack[-1][0] == "obj":
                    stack[-1][2] = True
                elif stack:
                    stack[-1][1] += 1
            continue
        token_start = m.start("str") if m.group("str") else m.start("lit")
        token_end = m.end()
        if not stack:
            break
        top = stack[-1]
        if top[0] == "obj" and top[2]:
            pending_key = json.loads(m.group("str")) if m.group("str") else m.group("lit")
            continue
        key = ".".join(path + [pending_key if top[0] == "obj" else str(top[1])])
        if key in wanted:
            if m.group("str"):
                spans[key] = (token_start + 1, token_end - 1)
            else:
                spans[key] = (token_start, token_end)
    return spans


def _flatten(obj: object, prefix: str = "", out: dict[str, object] | None = None, depth: int = 0) -> dict[str, object]:
    out = {} if out is None else out
    if isinstance(obj, dict) and depth < 8:
        for k, v in obj.items():
            _flatten(v, f"{prefix}{k}.", out, depth + 1)
    elif isinstance(obj, list) and depth < 8 and obj and all(isinstance(v, (dict, list)) for v in obj):
        for i, v in enumerate(obj):
            _flatten(v, f"{prefix}{i}.", out, depth + 1)
    else:
        out[prefix[:-1]] = obj
    return out


def _as_text(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, (dict, list)):
        return None
    return json.dumps(value)


# ---------------------------------------------------------------------------
# The reader


@dataclass
class _Snapshot:
    """A buffer read whole, without problems: its records and their places in ``text``."""

    text: str
    signature: tuple  # (format, delimiter, columns)
    records: list[Record]
    starts: np.ndarray  # character offset of each record's first line
    ends: np.ndarray  # character offset after each record's last line (its line break included)
    next_lines: np.ndarray  # the line after each record
    data_start: int  # character offset where the data rows begin (after a CSV header)
    data_line: int


def _common_prefix(a: str, b: str) -> int:
    """Length of the longest common prefix of two strings (compared a block at a time)."""
    n, i, step = min(len(a), len(b)), 0, 1 << 16
    while i < n and a[i:i + step] == b[i:i + step]:
        i += step
    if i >= n:
        return n
    lo, hi = i, min(i + step, n)  # the first difference is in [lo, hi)
    while hi - lo > 64:
        mid = (lo + hi) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid
    while lo < hi and a[lo] == b[lo]:
        lo += 1
    return lo


def _common_suffix(a: str, b: str, limit: int) -> int:
    """Length of the longest common suffix of two strings, at most ``limit``."""
    i, step, la, lb = 0, 1 << 16, len(a), len(b)
    while i < limit:
        n = min(step, limit - i)
        if a[la - i - n:la - i] != b[lb - i - n:lb - i]:
            break
        i += n
    else:
        return limit
    lo, hi = i, min(i + step, limit)  # a common suffix of lo characters, not of hi
    while hi - lo > 64:
        mid = (lo + hi) // 2
        if a[la - mid:la - lo] == b[lb - mid:lb - lo]:
            lo = mid
        else:
            hi = mid
    while lo < hi and a[la - 1 - lo] == b[lb - 1 - lo]:
        lo += 1
    return lo


def _line_breaks(text: str, start: int, end: int) -> int:
    return sum(1 for _ in LINE_BREAK.finditer(text, start, end))


class RecordMemo:
    """The records of the last read of one buffer, by their source text and place.

    An editor re-reads the whole buffer after every edit; with a memo, the
    reader parses only the records whose text, first line or row index changed
    and hands back the same objects for the rest. Holds one read at a time.
    """

    def __init__(self) -> None:
        self.signature: tuple = ()  # (format, columns, delimiter) the records were read with
        self.records: dict[tuple[str, int, int], tuple[Record, ParseProblem | None]] = {}
        # The last whole read of a buffer without problems, with where each record sits:
        # the next read of an edited buffer re-parses only the text between the common
        # prefix and suffix (a per-line parse of 10k rows took 30 ms an edit).
        self.snapshot: _Snapshot | None = None

    def lookup(self, signature: tuple) -> dict[tuple[str, int, int], tuple[Record, ParseProblem | None]]:
        return self.records if signature == self.signature else {}

    def replace(self, signature: tuple, records: dict) -> None:
        self.signature, self.records = signature, records


class DatasetReader:
    """Streams the records of one dataset.

    ``source`` is a path, a binary stream, or the text of an editor buffer.
    After construction :attr:`columns` and :attr:`format` are known; iterate to
    get :class:`Record` objects; :attr:`problems` collects what went wrong, in
    order, as it is found.
    """

    def __init__(
        self,
        source: str | Path | BinaryIO | None = None,
        *,
        text: str | None = None,
        path: str | None = None,
        format: str | None = None,
        delimiter: str | None = None,
        max_record_chars: int = DEFAULT_MAX_RECORD_CHARS,
        memo: RecordMemo | None = None,
    ):
        self._owned: BinaryIO | None = None
        self._memo = memo if text is not None else None  # stream offsets would differ: text only
        if text is not None:
            decoded = _decode_text(text, path)
            sample_text = text[:SNIFF_BYTES]
        else:
            if isinstance(source, (str, Path)):
                path = str(source)
                p = Path(source)
                if not p.exists():
                    raise DatasetError("no such file", path)
                if p.is_dir():
                    raise DatasetError("is a folder, not a dataset file", path)
                self._owned = open(p, "rb")
                stream: BinaryIO = self._owned
            elif source is not None:
                stream = source
            else:
                raise DatasetError("no dataset given", path)
            decoded = _decode_stream(stream, path)
            lines_iter = decoded.lines
            head: list[tuple[str, int]] = []
            size = 0
            for item in lines_iter:
                head.append(item)
                size += len(item[0])
                if size >= SNIFF_BYTES:
                    break
            sample_text = "".join(line for line, _ in head)
            decoded.lines = _chain(head, lines_iter)
        self.path = path
        self.encoding = decoded.encoding
        self.problems: list[ParseProblem] = decoded.problems
        self.format = format or detect_format(path, sample_text)
        if self.format not in FORMATS:
            raise DatasetError(f"unknown format {self.format!r}; use one of {', '.join(FORMATS)}", path)
        self.delimiter = None if self.format == "jsonl" else (delimiter or sniff_delimiter(sample_text, self.format))
        self.max_record_chars = max_record_chars
        self._lines = _numbered(decoded.lines)
        self.columns: list[str] = []
        self._records: Iterator[Record]
        self._text = text
        self._chars = 0  # characters of the lines read into records so far
        self._data_start, self._data_line = 0, 0  # where the data rows begin (after a CSV header)
        # Per record: start, end and next line, kept only for a memo (a stream's would grow unbounded).
        self._places: list[tuple[int, int, int]] | None = [] if self._memo is not None else None
        if self.format == "jsonl":
            # The columns come from the sample; the rows are read when iterated.
            self._records = self._jsonl_records(sample_text)
        snapshot = self._memo.snapshot if self._memo is not None else None
        if snapshot is not None:
            all_lines = self._lines
            patched = self._patched(snapshot, text)
            if patched is not None:
                self._records = iter(patched)
                return
            self._lines, self._chars, self._places = all_lines, 0, []
            if self.format != "jsonl":
                self.columns = []  # the header read sets them
        if self.format != "jsonl":
            self._records = self._csv_records()

    def __iter__(self) -> Iterator[Record]:
        try:
            yield from self._records
        finally:
            self.close()

    def close(self) -> None:
        if self._owned is not None:
            self._owned.close()
            self._owned = None

    # -- CSV -----------------------------------------------------------------

    def _csv_logical_records(self) -> Iterator[tuple[int, list[str], int]]:
        """(first line number, physical lines, byte offset) per record."""
        scanner = self._scanner
        pending: list[tuple[int, str, int]] = []
        size = 0
        in_quotes = False
        replay: list[tuple[int, str, int]] = []

        def source() -> Iterator[tuple[int, str, int]]:
            while True:
                if replay:
                    yield replay.pop(0)
                    continue
                try:
                    yield next(self._lines)
                except StopIteration:
                    return

        for line_no, line, offset in source():
            pending.append((line_no, line, offset))
            size += len(line)
            in_quotes = scanner.line_opens_quote(line, in_quotes)
            if in_quotes and size <= self.max_record_chars:
                continue
            if in_quotes:
                # Too long to be a real field: an unterminated quote.  Report it
                # and read on from the next line, so nothing after it is lost.
                first_no, first_line, _ = pending[0]
                self.problems.append(self._unterminated(first_no, first_line, scanner, exceeded=True))
                replay[:0] = pending[1:]
                pending, size, in_quotes = [], 0, False
                continue
            self._chars += size
            yield pending[0][0], [p[1] for p in pending], pending[0][2]
            pending, size = [], 0
        if pending:
            first_no, first_line, _ = pending[0]
            self.problems.append(self._unterminated(first_no, first_line, scanner, exceeded=False))
            rest = pending[1:]
            pending = []
            # Re-read the lines the open quote swallowed as ordinary records.
            for line_no, line, offset in rest:
                if scanner.line_opens_quote(line, False):
                    self.problems.append(self._unterminated(line_no, line, scanner, exceeded=False))
                    continue
                yield line_no, [line], offset

    def _unterminated(self, line_no: int, line: str, scanner: _CsvScanner, exceeded: bool) -> ParseProblem:
        col = line.find(scanner.quote)
        col = max(col, 0)
        why = (
            f"is still open after {self.max_record_chars:,} characters"
            if exceeded
            else "is never closed before the end of the file"
        )
        return ParseProblem(
            f"unterminated quoted field: the quote at line {line_no + 1}, column {col + 1} {why}; "
            "this row was skipped and reading went on from the next line",
            Range(Position(line_no, utf16_len(line[:col])), Position(line_no, utf16_len(_strip_terminator(line)))),
        )

    def _csv_records(self) -> Iterator[Record]:
        self._scanner = _CsvScanner(self.delimiter or ",")
        logical = self._csv_logical_records()
        self.columns = []
        for first_line, lines, _offset in logical:
            record = "".join(lines)
            if not _strip_terminator(record).strip():
                continue
            names = [v for v, *_ in self._scanner.fields(_strip_terminator(record))]
            if names:
                names[0] = names[0].lstrip("\ufeff")
            self.columns = _unique_header(names)
            self._data_start, self._data_line = self._chars, first_line + len(lines)
            break
        self._header_ready = True
        return self._csv_rows(logical)

    def _csv_rows(self, logical: Iterator[tuple[int, list[str], int]], first_index: int = 0,
                  remember: bool = True) -> Iterator[Record]:
        index = first_index
        n_columns = len(self.columns)
        signature = ("csv", tuple(self.columns), self.delimiter)
        remember = remember and self._memo is not None
        known = self._memo.lookup(signature) if remember else {}
        seen: dict[tuple[str, int, int], tuple[Record, ParseProblem | None]] = {}
        records: list[Record] = []
        places = self._places
        for first_line, lines, offset in logical:
            record = "".join(lines)
            if places is not None:
                places.append((self._chars - len(record), self._chars, first_line + len(lines)))
            hit = known.get((record, first_line, index))
            if hit is not None:
                seen[(record, first_line, index)] = hit
                if hit[1] is not None:
                    self.problems.append(hit[1])
                if remember:
                    records.append(hit[0])
                yield hit[0]
                index += 1
                continue
            body = _strip_terminator(record)
            if not body.strip():
                if places is not None:
                    places.pop()
                continue
            problems_before = len(self.problems)
            values = self._scanner.fields(body)
            fields: dict[str, FieldValue] = {}
            if len(lines) == 1 and body.isascii():
                # The common case: offsets are already UTF-16 columns on one line.
                for col, (value, s, e, escaped) in zip(self.columns, values):
                    rng = Range(Position(first_line, s), Position(first_line, e))
                    fields[col] = FieldValue(value, rng, body[s:e] if escaped else None, "csv" if escaped else "")
            else:
                starts = [0]
                for line in lines[:-1]:
                    starts.append(starts[-1] + len(line))
                for col, (value, s, e, escaped) in zip(self.columns, values):
                    rng = Range(
                        _offset_to_position(starts, lines, first_line, s),
                        _offset_to_position(starts, lines, first_line, e),
                    )
                    multiline = "\n" in value or "\r" in value
                    fields[col] = FieldValue(value, rng, body[s:e] if (escaped or multiline) else None,
                                             "csv" if escaped else "")
            end_line = first_line + len(lines)
            row_range = Range(Position(first_line, 0), Position(end_line, 0))
            if len(values) != n_columns:
                last_line = lines[-1] if len(lines) > 1 else body
                last = Position(first_line + len(lines) - 1, utf16_len(_strip_terminator(last_line)))
                self.problems.append(
                    ParseProblem(
                        f"row {index + 1} has {len(values)} field{'s' if len(values) != 1 else ''}; "
                        f"the header has {n_columns}"
                        + ("; the missing ones were read as empty" if len(values) < n_columns else "; the extra ones were ignored"),
                        Range(Position(first_line, 0), last),
                        row=index,
                    )
                )
            row = Record(index, fields, row_range, offset)
            if remember:
                seen[(record, first_line, index)] = (row, self.problems[-1] if len(self.problems) > problems_before else None)
            if remember:
                records.append(row)
            yield row
            index += 1
        if remember:
            self._memo.replace(signature, seen)
            self._remember((self.format, self.delimiter, tuple(self.columns)), records)

    # -- JSONL ---------------------------------------------------------------

    def _jsonl_records(self, sample_text: str) -> Iterator[Record]:
        # Columns are the flattened keys of the first objects in the sample.
        columns: dict[str, None] = {}
        for line in sample_text.splitlines()[:200]:
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict):
                for key, value in _flatten(obj).items():
                    if isinstance(value, str) or key not in columns:
                        columns.setdefault(key, None)
        self.columns = list(columns)
        return self._jsonl_rows()

    def _jsonl_rows(self, first_index: int = 0, remember: bool = True) -> Iterator[Record]:
        index = first_index
        wanted = set(self.columns)
        signature = ("jsonl", tuple(self.columns))
        remember = remember and self._memo is not None
        known = self._memo.lookup(signature) if remember else {}
        seen: dict[tuple[str, int, int], tuple[Record, ParseProblem | None]] = {}
        records: list[Record] = []
        places = self._places
        for line_no, line, offset in self._lines:
            self._chars += len(line)
            hit = known.get((line, line_no, index))
            if hit is not None:  # only good lines are remembered: a bad one is read again
                seen[(line, line_no, index)] = hit
                if places is not None:
                    places.append((self._chars - len(line), self._chars, line_no + 1))
                if remember:
                    records.append(hit[0])
                yield hit[0]
                index += 1
                continue
            body = _strip_terminator(line)
            if body.startswith("\ufeff"):
                body = " " + body[1:]  # same length, so positions stay exact
            if not body.strip():
                continue
            full = Range(Position(line_no, 0), Position(line_no, utf16_len(body)))
            try:
                obj = json.loads(body)
            except ValueError as err:
                col = getattr(err, "colno", 1) - 1
                msg = getattr(err, "msg", str(err))
                self.problems.append(
                    ParseProblem(
                        f"line {line_no + 1} is not valid JSON: {msg} (column {col + 1}); the line was skipped",
                        Range(Position(line_no, utf16_len(body[:col])), full.end),
                        row=index,
                    )
                )
                index += 1
                continue
            if not isinstance(obj, dict):
                kind = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean"}.get(type(obj), "null")
                self.problems.append(
                    ParseProblem(
                        f"line {line_no + 1} is {kind}, not a JSON object; the line was skipped",
                        full,
                        row=index,
                    )
                )
                index += 1
                continue
            flat = _flatten(obj)
            present = {k for k in wanted if k in flat}
            spans = _json_value_spans(body, present) if present else {}
            fields: dict[str, FieldValue] = {}
            for key in present:
                text = _as_text(flat[key])
                if text is None:
                    continue
                s, e = spans.get(key, (0, len(body)))
                raw = body[s:e]
                rng = Range(Position(line_no, utf16_len(body[:s])), Position(line_no, utf16_len(body[:e])))
                escaped = isinstance(flat[key], str) and raw != text
                fields[key] = FieldValue(text, rng, raw if escaped else None, "json" if escaped else "")
            row = Record(index, fields, Range(Position(line_no, 0), Position(line_no + 1, 0)), offset)
            if remember:
                seen[(line, line_no, index)] = (row, None)
            if places is not None:
                places.append((self._chars - len(line), self._chars, line_no + 1))
            if remember:
                records.append(row)
            yield row
            index += 1
        if remember:
            self._memo.replace(signature, seen)
            self._remember((self.format, self.delimiter, tuple(self.columns)), records)

    # -- re-reading an edited buffer ------------------------------------------

    def _remember(self, signature: tuple, records: list[Record]) -> None:
        """Keep a whole read of a buffer without problems for the next read's :meth:`_patched`."""
        ok = self._text is not None and not self.problems and len(self._places) == len(records)
        places = np.asarray(self._places, dtype=np.int64).reshape(-1, 3)
        self._memo.snapshot = _Snapshot(self._text, signature, records, places[:, 0], places[:, 1], places[:, 2],
                                        self._data_start, self._data_line) if ok else None

    def _patched(self, snapshot: _Snapshot, text: str) -> list[Record] | None:
        """The records of ``text``, an edit of the snapshot's buffer: the snapshot's records
        before and after the edited stretch, and that stretch parsed anew.  None (read it
        all) when the stretch changes the number of lines or records, the header, the
        format or the columns, or has a problem of its own (a bad row: reported in place)."""
        columns = tuple(self.columns) if self.format == "jsonl" else snapshot.signature[2]
        if (self.format, self.delimiter, columns) != snapshot.signature:
            return None
        self.columns = list(columns)
        old = snapshot.text
        if old == text:
            return list(snapshot.records)
        prefix = _common_prefix(old, text)
        suffix = _common_suffix(old, text, min(len(old), len(text)) - prefix)
        if prefix < snapshot.data_start:
            return None  # the header (or the text before it) changed
        n = len(snapshot.records)
        # Records wholly inside the common prefix and ending in a line break are kept as
        # they are; so are those starting in the common suffix (same lines, same places).
        a = int(np.searchsorted(snapshot.ends, prefix, side="right"))
        while a > 0 and old[snapshot.ends[a - 1] - 1] not in "\r\n":
            a -= 1
        b = int(np.searchsorted(snapshot.starts, len(old) - suffix, side="left"))
        b = max(a, b)
        start = int(snapshot.ends[a - 1]) if a else snapshot.data_start
        old_end = int(snapshot.starts[b]) if b < n else len(old)
        shift = len(text) - len(old)
        end = old_end + shift
        if text[start - 1:start + 1] == "\r\n" or (b < n and text[end - 1:end] not in ("\r", "\n")):
            return None  # a line break that now runs into the stretch, or a line that runs out of it
        if _line_breaks(old, start, old_end) != _line_breaks(text, start, end):
            return None
        self._lines = ((line_no, line, -1) for line_no, line in
                       enumerate(_iter_text_lines(text[start:end]), start=int(snapshot.next_lines[a - 1]) if a
                                 else snapshot.data_line))
        self._chars, self._places = start, []
        if self.format == "jsonl":
            middle = list(self._jsonl_rows(first_index=a, remember=False))
        else:
            self._scanner = _CsvScanner(self.delimiter or ",")
            middle = list(self._csv_rows(self._csv_logical_records(), first_index=a, remember=False))
        if self.problems or len(middle) != b - a:
            self.problems.clear()
            return None
        records = snapshot.records[:a] + middle + snapshot.records[b:]
        middle_places = np.asarray(self._places, dtype=np.int64).reshape(-1, 3)
        self._memo.snapshot = _Snapshot(
            text, snapshot.signature, records,
            np.concatenate([snapshot.starts[:a], middle_places[:, 0], snapshot.starts[b:] + shift]),
            np.concatenate([snapshot.ends[:a], middle_places[:, 1], snapshot.ends[b:] + shift]),
            np.concatenate([snapshot.next_lines[:a], middle_places[:, 2], snapshot.next_lines[b:]]),
            snapshot.data_start, snapshot.data_line)
        return records


def _chain(head: list[tuple[str, int]], rest: Iterator[tuple[str, int]]) -> Iterator[tuple[str, int]]:
    yield from head
    yield from rest


def _numbered(lines: Iterable[tuple[str, int]]) -> Iterator[tuple[int, str, int]]:
    for i, (line, offset) in enumerate(lines):
        yield i, line, offset


def load_table(source: str | Path | BinaryIO | None = None, *, text: str | None = None, path: str | None = None,
               format: str | None = None) -> Table:
    """Read a whole dataset into memory (training files, editor buffers, tests)."""
    reader = DatasetReader(source, text=text, path=path, format=format)
    records = list(reader)
    return Table(reader.path, reader.format, reader.columns, records, reader.problems, reader.encoding, reader.delimiter)


def choose_text_column(columns: list[str], samples: list[dict[str, str | None]]) -> str | None:
    """The column with the most free text: most words on average, ties to the
    leftmost.  Columns that look like ids, tags or numbers score low."""
    best, best_score = None, 0.0
    for col in columns:
        values = [s.get(col) for s in samples if s.get(col)]
        if not values:
            continue
        words = sum(len(v.split()) for v in values) / len(samples)
        distinct = len(set(values)) / len(values)
        alpha = sum(sum(ch.isalpha() for ch in v) / max(len(v), 1) for v in values) / len(values)
        score = words * distinct * alpha
        if score > best_score:
            best, best_score = col, score
    return best
