"""Reading datasets: exact source ranges, and every kind of bad input."""

import subprocess
import sys
from pathlib import Path

import pytest

from lens_engine.datasets import DatasetError, DatasetReader, choose_text_column, load_table
from lens_engine.source import Position, Range


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    p = tmp_path / name
    p.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return p


def rng(l1, c1, l2, c2):
    return Range(Position(l1, c1), Position(l2, c2))


def test_csv_fields_keep_exact_ranges_across_multiline_quotes_and_escapes(tmp_path):
    text = 'id,text\r\n1,"he said ""hi""\nthen left"\n2,plain words\n'
    table = load_table(write(tmp_path, "d.csv", text))
    assert table.columns == ["id", "text"]
    first, second = table.records
    assert first.text("text") == 'he said "hi"\nthen left'
    assert first.fields["text"].range == rng(1, 3, 2, 9)
    assert first.range == rng(1, 0, 3, 0)
    # An offset inside the decoded text maps back through the "" escapes and the line break.
    assert first.fields["text"].position_at(len('he said "hi"\nthen')) == Position(2, 4)
    assert first.fields["text"].position_at(9) == Position(1, 13)  # the h of hi, after the escaped quote
    assert second.fields["text"].range == rng(3, 2, 3, 13)


def test_positions_count_utf16_code_units(tmp_path):
    table = load_table(write(tmp_path, "d.csv", "a,b\n🎵🎵,after emoji\n"))
    assert table.records[0].fields["b"].range == rng(1, 5, 1, 16)  # each emoji is 2 UTF-16 units


def test_mixed_newlines_are_lines_as_lsp_counts_them(tmp_path):
    table = load_table(write(tmp_path, "d.csv", b"a,b\r\nx,1\ry,2\nz,3\r\n"))
    assert [r.text("a") for r in table.records] == ["x", "y", "z"]
    assert [r.fields["a"].range.start.line for r in table.records] == [1, 2, 3]


def test_bom_is_skipped_in_the_header(tmp_path):
    table = load_table(write(tmp_path, "d.csv", b"\xef\xbb\xbfquery,n\nhello,1\n"))
    assert table.columns == ["query", "n"]
    assert table.records[0].fields["query"].range == rng(1, 0, 1, 5)


def test_tsv_and_sniffed_semicolons(tmp_path):
    assert load_table(write(tmp_path, "d.tsv", "a\tb\nx, y\tz\n")).records[0].text("a") == "x, y"
    table = load_table(write(tmp_path, "d.csv", "a;b\nx, y;z\nu;v\n"))
    assert table.delimiter == ";" and table.records[0].text("a") == "x, y"


def test_empty_file_and_header_only(tmp_path):
    empty = load_table(write(tmp_path, "e.csv", ""))
    assert empty.records == [] and empty.problems == []
    header = load_table(write(tmp_path, "h.csv", "a,b\n"))
    assert header.columns == ["a", "b"] and header.records == []


def test_ragged_rows_are_reported_and_kept(tmp_path):
    table = load_table(write(tmp_path, "d.csv", "a,b,c\n1,2,3\n4,5\n6,7,8,9\n10,11,12\n"))
    assert [r.text("a") for r in table.records] == ["1", "4", "6", "10"]
    messages = [(p.row, p.range.start.line, p.message) for p in table.problems]
    assert messages[0][:2] == (1, 2) and "2 fields; the header has 3" in messages[0][2]
    assert messages[1][:2] == (2, 3) and "4 fields" in messages[1][2]


def test_unterminated_quote_loses_only_its_row(tmp_path):
    text = 'a,b\n1,ok\n2,"never closed\n3,fine\n4,also fine\n'
    table = load_table(write(tmp_path, "d.csv", text))
    assert [r.text("a") for r in table.records] == ["1", "3", "4"]
    (problem,) = table.problems
    assert "unterminated quoted field" in problem.message
    assert problem.range.start == Position(2, 2)


def test_unterminated_quote_in_a_huge_file_is_bounded(tmp_path):
    lines = ["a,b", '1,"open'] + [f"{i},row {i}" for i in range(2, 2000)]
    reader = DatasetReader(write(tmp_path, "d.csv", "\n".join(lines) + "\n"), max_record_chars=5000)
    records = list(reader)
    assert records[0].text("a") != "1"
    assert len(records) > 1500  # reading resumed right after the broken row
    assert "still open after" in reader.problems[0].message


def test_latin1_file_is_read_with_a_located_warning(tmp_path):
    table = load_table(write(tmp_path, "d.csv", "text,n\ncafé olé,1\nnaïve,2\n".encode("latin-1")))
    assert [r.text("text") for r in table.records] == ["café olé", "naïve"]
    (problem,) = table.problems
    assert problem.kind == "encoding" and "not UTF-8" in problem.message
    assert problem.range.start == Position(1, 3)


def test_a_stray_bad_byte_in_a_utf8_file_is_located(tmp_path):
    data = ("text\n" + "good row\n" * 10000).encode() + b"bad \xff byte\n" + b"after\n"
    table = load_table(write(tmp_path, "d.csv", data))
    assert table.records[-1].text("text") == "after"
    (problem,) = table.problems
    assert problem.range.start == Position(10001, 4) and "0xff" in problem.message


def test_binary_file_is_one_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="not a text file"):
        load_table(write(tmp_path, "d.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00"))


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(DatasetError, match="no such file"):
        load_table(tmp_path / "nope.csv")
    with pytest.raises(DatasetError, match="folder"):
        load_table(tmp_path)


def test_one_megabyte_field(tmp_path):
    big = "word " * 200_000
    table = load_table(write(tmp_path, "d.csv", f'a,b\n1,"{big}"\n2,small\n'))
    assert len(table.records[0].text("b")) == len(big)
    assert table.records[1].fields["b"].range.start == Position(2, 2)


def test_jsonl_nested_keys_bad_lines_and_non_objects(tmp_path):
    text = (
        '{"meta": {"id": 1}, "turn": {"text": "caf\\u00e9 au lait"}}\n'
        '[1, 2]\n'
        '{"turn": {"text": "unterminated}\n'
        '\n'
        '"just a string"\n'
        '{"turn": {"text": "last one"}, "meta": {"id": 4}}\n'
    )
    table = load_table(write(tmp_path, "d.jsonl", text))
    assert "turn.text" in table.columns and "meta.id" in table.columns
    rows = {r.index: r for r in table.records}
    assert rows[0].text("turn.text") == "café au lait"
    assert rows[0].fields["turn.text"].range == rng(0, 38, 0, 55)
    assert rows[0].fields["turn.text"].position_at(4) == Position(0, 47)  # after the \u00e9 escape
    assert rows[4].text("turn.text") == "last one"
    kinds = [(p.row, p.range.start.line, p.message.split(":")[0]) for p in table.problems]
    assert kinds[0][:2] == (1, 1) and "array" in table.problems[0].message
    assert kinds[1][:2] == (2, 2) and "not valid JSON" in table.problems[1].message
    assert kinds[2][:2] == (3, 4) and "a string" in table.problems[2].message


def test_editor_buffer_text_gives_the_same_ranges_as_the_file(tmp_path):
    text = 'q,r\n"multi\nline",x\nplain,y\n'
    from_file = load_table(write(tmp_path, "d.csv", text))
    from_text = load_table(text=text, path="d.csv")
    assert [r.fields["q"].range for r in from_file.records] == [r.fields["q"].range for r in from_text.records]


def test_choose_text_column_prefers_free_text():
    samples = [{"id": str(i), "tag": "seed", "text": f"a longer sentence number {i} with words"} for i in range(20)]
    assert choose_text_column(["id", "tag", "text"], samples) == "text"


@pytest.mark.slow
def test_a_gigabyte_file_streams_in_bounded_memory(tmp_path):
    path = tmp_path / "big.csv"
    row = ("a fairly ordinary generated sentence about music and mood, " * 3).strip()
    line = f'0,"{row}"\n'.encode()
    with open(path, "wb") as f:
        f.write(b"id,text\n")
        chunk = line * 20_000
        while f.tell() < 1_000_000_000:
            f.write(chunk)
    # In a child process, so the peak resident size is the reader's alone.  VmHWM,
    # not ru_maxrss: Linux carries ru_maxrss across fork+exec from the (large) test process.
    script = (
        "import re, sys; from lens_engine.datasets import DatasetReader\n"
        "n = sum(1 for _ in DatasetReader(sys.argv[1]))\n"
        "hwm = re.search(r'VmHWM:\\s+(\\d+) kB', open('/proc/self/status').read()).group(1)\n"
        "print(n, hwm)\n"
    )
    out = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=True)
    n, peak_kib = map(int, out.stdout.split())
    assert n > 5_000_000
    assert peak_kib < 100 * 1024, f"peak RSS {peak_kib / 1024:.0f} MiB for a 1 GB file"


def _snapshot(reader: DatasetReader) -> tuple:
    records = [(r.index, r.range, {k: (v.text, v.range, v.raw) for k, v in r.fields.items()}) for r in reader]
    return records, [(p.message, p.range, p.row) for p in reader.problems], reader.columns


@pytest.mark.parametrize("name, before, edits", [
    ("d.csv", 'text,tag\n"one, quoted",a\ntwo,b\n"three\nlines",c\nfour,d\nragged\nfive,e\n', [
        lambda t: t.replace("two,b", "two changed,b"),          # one row, same lines
        lambda t: t.replace("four,d\n", "four,d\nnew row,x\n"),  # a row inserted: later rows renumbered
        lambda t: t.replace('"three\nlines",c\n', ""),           # a multi-line row deleted: lines shift
        lambda t: t.replace("two", '"two'),                      # an open quote swallows what follows
        lambda t: t.replace("text,tag", "text,tag,extra"),       # the header: every row is another shape
    ]),
    ("e.csv", "text,tag\none,a\ntwo,b", [  # no line break after the last row
        lambda t: t + " ",                                       # typing at the very end
        lambda t: t + "\r",
        lambda t: t + "\nthree,c",
        lambda t: t.replace("one", "one "),
    ]),
    ("d.jsonl", '{"text": "one"}\n{"text": "two"}\nnot json\n[1]\n{"text": "three \\"q\\""}\n', [
        lambda t: t.replace('"two"', '"two, edited"'),
        lambda t: t.replace("not json\n", ""),
        lambda t: '{"text": "zero"}\n' + t,
    ]),
])
def test_a_memo_reread_after_an_edit_equals_a_fresh_read(name, before, edits):
    """The editor re-reads a buffer after every edit, reusing the records that didn't
    change: every edit must give exactly what a reader without memory gives."""
    from lens_engine.datasets import RecordMemo

    memo = RecordMemo()
    text = before
    assert _snapshot(DatasetReader(text=text, path=name, memo=memo)) == _snapshot(DatasetReader(text=text, path=name))
    for edit in edits + [lambda t: t]:  # the last: the same text read again
        text = edit(text)
        remembered = _snapshot(DatasetReader(text=text, path=name, memo=memo))
        assert remembered == _snapshot(DatasetReader(text=text, path=name)), text
        assert memo.records, "the memo holds the last read"


def _random_buffer(rng, jsonl: bool) -> str:
    words = ["songs", "jazz", "for", "a", "rainy", "day", "naïve", "café", "🎵", "x"]
    breaks = ["\n", "\n", "\n", "\r\n", "\r"]
    out = [] if jsonl else ["text,tag" + rng.choice(breaks)]
    for i in range(rng.randint(3, 40)):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(1, 6)))
        if jsonl:
            out.append('{"text": "%s", "meta": {"n": %d}}' % (text.replace('"', '\\"'), i))
        elif rng.random() < 0.2:
            out.append('"%s,%s%s",t%d' % (text, rng.choice(breaks), text, i))  # quoted, over two lines
        else:
            out.append(f"{text},t{i}")
        out.append(rng.choice(breaks))
        if rng.random() < 0.1:
            out.append(rng.choice(breaks))  # a blank line
    return "".join(out)


def _random_edit(rng, text: str, jsonl: bool) -> str:
    pieces = ['"', ",", "\n", "\r\n", "\r", "x", "é", "{", "}", " ", '"a, b"', "songs for you", '{"text": "new"}\n']
    kind = rng.random()
    i = rng.randrange(len(text) + 1)
    if jsonl and kind < 0.45:  # typing inside a value (elsewhere, most keys break the line)
        starts = [k + len('"text": "') for k in range(len(text)) if text.startswith('"text": "', k)]
        i = rng.choice(starts) if starts else i
    if kind < 0.45:  # typing inside a row: the common edit
        return text[:i] + rng.choice(["a", "bc", " ", "é", "🎵"]) + text[i:]
    if kind < 0.65:
        j = min(len(text), i + rng.randint(1, 4))
        return text[:i] + text[j:]
    return text[:i] + rng.choice(pieces) + text[i:]


@pytest.mark.parametrize("jsonl", [False, True])
def test_a_patched_reread_equals_a_fresh_read_after_random_edits(jsonl):
    """A re-read parses only the stretch between the text an edit left alone before and
    after it (RecordMemo.snapshot); any edit, even one that opens a quote, breaks a line,
    or damages the header, must give exactly what a reader without memory gives."""
    import random

    from lens_engine import datasets
    from lens_engine.datasets import RecordMemo

    name = "d.jsonl" if jsonl else "d.csv"
    patched = 0
    original = datasets.DatasetReader._patched

    def counting(self, snapshot, text):
        nonlocal patched
        records = original(self, snapshot, text)
        patched += records is not None
        return records

    datasets.DatasetReader._patched = counting
    try:
        for seed in range(16):
            rng = random.Random(seed)
            memo = RecordMemo()
            text = _random_buffer(rng, jsonl)
            for step in range(30):
                remembered = _snapshot(DatasetReader(text=text, path=name, memo=memo))
                assert remembered == _snapshot(DatasetReader(text=text, path=name)), (seed, step, text)
                text = _random_edit(rng, text, jsonl) if rng.random() < 0.75 else _random_buffer(rng, jsonl)
    finally:
        datasets.DatasetReader._patched = original
    assert patched > 60, f"the patched path ran only {patched} times of 480"  # 195 (CSV) and 97 (JSONL) now
