#!/usr/bin/python3
"""docs/optimizers.md against the optimizer registry: what `kappa plugins` lists.

usage: check_optimizers_doc.py --kappa KAPPA --plugin-dir DIR --doc docs/optimizers.md

`kappa plugins --plugin-dir DIR` prints every optimizer it loads as `NAME - SUMMARY`, then
`  from LIBRARY` and one `  PARAM = DEFAULT  HELP  [DOMAIN]` line per parameter (or
`  (no parameters)`). The optimizers loaded from DIR (the build's plugins) are the registry.
The doc must, for each of them and for nothing else:

- have one section `## NAME - ...` (a level-2 heading whose first word is the name; a heading
  of that form naming no registered optimizer is an error) that cites the sources of the
  registry's summary (the first author's surname and the year of each `(Author YEAR, ...)`);
- name it in the family table (header `| family | optimizers |`) and, in the folder table
  (header `| plugin folder | optimizers |`), in the row of the folder `plugins/FOLDER/` whose
  library `libkappa_plugin_FOLDER.so` registers it;
- give exactly its parameters, each with the registry's default and domain. A section's
  parameters are, in this order: the rows of the shared first-order table (the table of the
  section `## Shared by the first-order plugins...`) if the section says "shared first-order
  parameters"; those of optimizer X if it says "parameters as `X`"; then the rows of its own
  parameter tables (header `| parameter | default | domain |...`), which add or replace. A
  section of an optimizer without parameters says "No parameters." and has no such rows.
  Cells are compared as text after removing backticks, unescaping `\\|` and the blanks
  around `|` (`svd \\| qr` is the registry's `svd|qr`).

Every mismatch is reported (one line each) and the exit status is 1; "ok: ..." and 0 otherwise.
"""

import argparse
import os
import re
import subprocess
import sys

PARAM_LINE = re.compile(r"^  (\S+) = (\S*) +(.*?)  \[(.*)\]$")
HEADING = re.compile(r"^## `?([a-z][a-z0-9_]*)`? - ")
SHARED_HEADING = "## Shared by the first-order plugins"


def registry(kappa, plugin_dir):
    """{name: {"library": path, "params": {param: (default, domain)}}} of the optimizers that
    `kappa plugins` loads from plugin_dir."""
    done = subprocess.run([kappa, "plugins", "--plugin-dir", plugin_dir], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise SystemExit(f"FAIL: kappa plugins: exit {done.returncode}: {done.stderr.strip()}")
    optimizers, current = {}, None
    lines = done.stdout.splitlines()
    for index, line in enumerate(lines):
        if line == "refused:":
            break
        if not line.startswith(" ") and " - " in line and index + 1 < len(lines) and lines[index + 1].startswith("  from "):
            name = line.split(" - ", 1)[0]
            current = optimizers.setdefault(name, {"library": lines[index + 1][len("  from "):], "params": {},
                                                   "summary": line.split(" - ", 1)[1]})
        elif current is not None and line == "  (no parameters)":
            pass
        elif current is not None and line.startswith("  ") and not line.startswith("  from "):
            match = PARAM_LINE.match(line)
            if not match:
                raise SystemExit(f"FAIL: kappa plugins: a parameter line this check cannot read: {line!r}")
            current["params"][match.group(1)] = (match.group(2), match.group(4))
    real = os.path.realpath(plugin_dir)
    mine = {name: o for name, o in optimizers.items() if os.path.dirname(os.path.realpath(o["library"])) == real}
    if not mine:
        raise SystemExit(f"FAIL: kappa plugins loaded no optimizer from {plugin_dir}:\n{done.stdout}")
    return mine


def cell(text):
    """A table cell as compared: no backticks, `\\|` unescaped, no blanks around '|'."""
    text = text.strip().replace("`", "").replace("\\|", "|")
    return re.sub(r"\s*\|\s*", "|", text)


def split_row(line):
    """The cells of a markdown table row (escaped pipes stay inside their cell)."""
    cells = re.split(r"(?<!\\)\|", line.strip())
    return [c.strip() for c in cells[1:-1]]


def tables(lines):
    """The tables of these lines: (header cells, [row cells]) each."""
    found, index = [], 0
    while index < len(lines):
        if lines[index].startswith("|") and index + 1 < len(lines) and re.match(r"^\|[ :|-]+\|$", lines[index + 1].strip()):
            header = [c.lower() for c in split_row(lines[index])]
            rows = []
            index += 2
            while index < len(lines) and lines[index].startswith("|"):
                rows.append(split_row(lines[index]))
                index += 1
            found.append((header, rows))
        else:
            index += 1
    return found


def sections(text):
    """The level-2 sections: (heading line, its lines), in order."""
    result, heading, body = [], None, []
    fence = False
    for line in text.splitlines():
        if line.startswith("```"):
            fence = not fence
        if not fence and line.startswith("## "):
            if heading is not None:
                result.append((heading, body))
            heading, body = line, []
        elif heading is not None:
            body.append(line)
    if heading is not None:
        result.append((heading, body))
    return result


def citations(summary):
    """(first author's surname, year) of each source a summary cites: 'Nocedal & Wright 2006,
    Alg. 7.4' in '(...; ...)' gives ('Nocedal', '2006')."""
    found = []
    for group in re.findall(r"\(([^()]*\d{4}[^()]*)\)", summary):
        for part in group.split(";"):
            match = re.search(r"([A-Z][A-Za-z'-]+)\D*?(\d{4})", part)
            if match:
                found.append((match.group(1), match.group(2)))
    return found


def names_in(text):
    return re.findall(r"`([a-z][a-z0-9_]*)`", text)


def parameter_rows(rows, where, problems):
    """{param: (default, domain)} of a parameter table's rows; a row without three cells is a problem."""
    params = {}
    for row in rows:
        if len(row) < 3:
            problems.append(f"{where}: a parameter table row without name, default and domain: {'|'.join(row)!r}")
            continue
        params[cell(row[0])] = (cell(row[1]), cell(row[2]))
    return params


def check(doc_path, optimizers):
    problems = []
    text = open(doc_path, encoding="utf-8").read()
    all_sections = sections(text)
    shared = next((body for heading, body in all_sections if heading.startswith(SHARED_HEADING)), None)
    shared_rows = {}
    if shared is None:
        problems.append(f"no section '{SHARED_HEADING}...' with the shared first-order parameters")
    else:
        for header, rows in tables(shared):
            if header[:3] == ["parameter", "default", "domain"]:
                shared_rows.update(parameter_rows(rows, "shared first-order table", problems))
        if not shared_rows:
            problems.append("the shared first-order section has no '| parameter | default | domain |' table")

    documented = {}  # name -> section lines
    for heading, body in all_sections:
        match = HEADING.match(heading)
        if not match:
            continue
        name = match.group(1)
        if name not in optimizers:
            problems.append(f"section '{heading}': no optimizer '{name}' in the registry")
        elif name in documented:
            problems.append(f"optimizer '{name}' has two sections")
        else:
            documented[name] = body

    resolved = {}

    def params_of(name, seen=()):
        if name in resolved:
            return resolved[name]
        body = documented[name]
        prose = "\n".join(body)
        params = {}
        if "shared first-order parameters" in prose.lower():
            params.update(shared_rows)
        for other in re.findall(r"[Pp]arameters as `([a-z0-9_]+)`", prose):
            if other in seen or other not in documented:
                problems.append(f"{name}: 'parameters as `{other}`' names no other documented optimizer")
            else:
                params.update(params_of(other, seen + (name,)))
        for header, rows in tables(body):
            if header[:3] == ["parameter", "default", "domain"]:
                params.update(parameter_rows(rows, name, problems))
        resolved[name] = params
        return params

    for name in sorted(optimizers):
        if name not in documented:
            problems.append(f"optimizer '{name}' ({optimizers[name]['library']}) has no section '## {name} - ...'")
            continue
        section = "\n".join(documented[name])
        heading = next(h for h, _ in all_sections if HEADING.match(h) and HEADING.match(h).group(1) == name)
        for surname, year in citations(optimizers[name]["summary"]):
            if surname not in heading + section or year not in heading + section:
                problems.append(f"{name}: the registry's summary cites {surname} {year}; its section does not")
        expected = optimizers[name]["params"]
        params = params_of(name)
        if not expected and "No parameters." not in "\n".join(documented[name]):
            problems.append(f"{name}: the registry gives it no parameters; its section should say 'No parameters.'")
        for param, (default, domain) in expected.items():
            if param not in params:
                problems.append(f"{name}: parameter '{param}' (default {default}, [{domain}]) is not documented")
                continue
            doc_default, doc_domain = params[param]
            if doc_default != default:
                problems.append(f"{name}: parameter '{param}': the doc says default '{doc_default}', the registry '{default}'")
            if doc_domain != cell(domain):
                problems.append(f"{name}: parameter '{param}': the doc says domain '{doc_domain}', the registry '{domain}'")
        for param in params:
            if param not in expected:
                problems.append(f"{name}: the doc lists a parameter '{param}' the registry does not have")

    # The family table and the folder table.
    all_tables = tables(text.splitlines())
    families = [rows for header, rows in all_tables if header[:2] == ["family", "optimizers"]]
    folders = [rows for header, rows in all_tables if header[:2] == ["plugin folder", "optimizers"]]
    if len(families) != 1:
        problems.append(f"expected one '| family | optimizers |' table, found {len(families)}")
    else:
        listed = [n for row in families[0] for n in names_in(" ".join(row[1:]))]
        for n in listed:
            if n not in optimizers:
                problems.append(f"family table: no optimizer '{n}' in the registry")
        for n in sorted(set(optimizers) - set(listed)):
            problems.append(f"family table: optimizer '{n}' is missing")
        for n in sorted({n for n in listed if listed.count(n) > 1}):
            problems.append(f"family table: optimizer '{n}' is listed more than once")
    if len(folders) != 1:
        problems.append(f"expected one '| plugin folder | optimizers |' table, found {len(folders)}")
    else:
        placed = {}
        for row in folders[0]:
            folder = re.fullmatch(r"`?plugins/([a-z0-9_]+)/?`?", row[0].strip()) if len(row) >= 2 else None
            if not folder:
                problems.append(f"folder table: '{row[0]}' is not a plugins/FOLDER/ path")
                continue
            for n in names_in(row[1]):
                if n in placed:
                    problems.append(f"folder table: optimizer '{n}' is in two folders")
                placed[n] = folder.group(1)
        for n, folder in sorted(placed.items()):
            if n not in optimizers:
                problems.append(f"folder table: no optimizer '{n}' in the registry")
                continue
            library = os.path.basename(optimizers[n]["library"])
            if library != f"libkappa_plugin_{folder}.so":
                problems.append(f"folder table: '{n}' is in plugins/{folder}/, but the registry loads it from {library}")
        for n in sorted(set(optimizers) - set(placed)):
            problems.append(f"folder table: optimizer '{n}' ({os.path.basename(optimizers[n]['library'])}) is missing")
    return problems


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kappa", required=True)
    parser.add_argument("--plugin-dir", required=True)
    parser.add_argument("--doc", required=True)
    args = parser.parse_args()
    optimizers = registry(args.kappa, args.plugin_dir)
    problems = check(args.doc, optimizers)
    if problems:
        for problem in problems:
            print(f"FAIL: {args.doc}: {problem}")
        return 1
    params = sum(len(o["params"]) for o in optimizers.values())
    print(f"ok: {args.doc} documents the {len(optimizers)} registered optimizers and their {params} parameters "
          "with the registry's defaults and domains, and no other optimizer")
    return 0


if __name__ == "__main__":
    sys.exit(main())
