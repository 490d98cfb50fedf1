"""
Packing a configuration folder into the files the programs read
(what C{halonconfig} does).

A folder has this layout::

    src/config/*.yaml                 smtpd.yaml, smtpd-app.yaml, smtpd-policy.yaml ...
    src/hooks/<type>/<id>.hsl         type: connect disconnect proxy helo auth mailfrom rcptto eod
    src/hooks/queue/predelivery.hsl
    src/hooks/queue/postdelivery.hsl
    src/files/**                      virtual files for include/import (scripting.files[])

Packing reads C{src/config/smtpd-app.yaml}, adds the hooks its servers
reference (C{scripting.hooks.<type>[] = {id, data}}), the queue hooks (as
strings) and every file under C{src/files} (C{{id: relative/path, data}},
base64 with C{binary: true} when not UTF-8; hidden files and files matched
by a C{.halonignore} glob are left out).  The other YAML files are copied
as they are.  Everything is validated, and every HSL file compiled, before
anything is written to C{dist/}; with any problem nothing is written.
"""

import base64
import fnmatch
import os
import re

from halon.config import files, hsl, loader, schema, semantic
from halon.config.errors import ConfigError, Problem

HOOK_TYPES = semantic.HOOK_TYPES
QUEUE_HOOKS = ("predelivery", "postdelivery")


class Packer:
    """
    Packs one folder.  C{problems} collects everything found; L{pack}
    returns the files to write (name -> bytes) or C{None} when there were
    problems.
    """

    def __init__(self, folder, schema_dir=None, check_hsl=True):
        self.folder = os.path.abspath(folder)
        self.schema_dir = schema_dir
        self.check_hsl = check_hsl
        self.problems = []

    def rel(self, *parts):
        """A path under the folder as problems show it (relative, with /)."""
        return "/".join(parts)

    def path(self, *parts):
        return os.path.join(self.folder, *parts)

    def pack(self):
        config_dir = self.path("src", "config")
        if not os.path.isdir(config_dir):
            self.problems.append(Problem(self.rel("src", "config"), None, "no such folder; is this a configuration folder?"))
            return None
        names = sorted(n for n in os.listdir(config_dir) if n.endswith(".yaml") and not n.startswith("."))
        documents = {}
        for name in names:
            try:
                documents[name] = files.read(os.path.join(config_dir, name), self.rel("src", "config", name))
            except ConfigError as e:
                self.problems += e.problems
        if self.check_hsl:
            self._lint()
        startup = documents["smtpd.yaml"].data if "smtpd.yaml" in documents else None
        output = {}
        for name, document in documents.items():
            kind = name[: -len(".yaml")]
            if name == "smtpd-app.yaml":
                document = self._pack_app(document)
                output[name] = files.dump(document.data).encode("utf-8")
            else:
                with open(os.path.join(config_dir, name), "rb") as f:
                    output[name] = f.read()
            self._validate(kind, document, startup if kind == "smtpd-app" else None)
        if self.problems:
            self.problems.sort(key=lambda p: (p.file, p.line or 0, p.column or 0))
            return None
        return output

    def _validate(self, kind, document, startup):
        if os.path.isfile(os.path.join(self.schema_dir or schema.default_schema_dir(), kind + ".schema.json")):
            self.problems += schema.problems(document, kind, self.schema_dir)
        elif kind in loader.KINDS:
            self.problems.append(Problem(document.file, None, "no %s.schema.json in the schema folder" % (kind,)))
        # Scripts were compiled from their source files already, with their own names;
        # a hook whose script is missing is reported once, by the packer.
        known = {(p.file, p.path) for p in self.problems}
        self.problems += [p for p in semantic.check(kind, document, startup, lint=False, local=False) if (p.file, p.path) not in known]

    # -- smtpd-app.yaml -----------------------------------------------------

    def _pack_app(self, document):
        data = document.data
        scripting = data.setdefault("scripting", {}) if isinstance(data.get("scripting", {}), dict) else None
        if scripting is None:
            return document
        hooks = scripting.setdefault("hooks", {}) if isinstance(scripting.get("hooks", {}), dict) else None
        if hooks is not None:
            for kind, refs in self._references(data).items():
                for where, ident in refs:
                    self._add_hook(document, hooks, kind, ident, where)
            for kind in QUEUE_HOOKS:
                source = self._read_text(self.path("src", "hooks", "queue", kind + ".hsl"), self.rel("src", "hooks", "queue", kind + ".hsl"))
                if source is not None:
                    hooks[kind] = source
            for kind in HOOK_TYPES:
                if hooks.get(kind) == []:
                    del hooks[kind]
            if not hooks:
                del scripting["hooks"]
        packed = self._files()
        if packed and isinstance(scripting.get("files", []), list):
            existing = scripting.setdefault("files", [])
            by_id = {entry.get("id"): i for i, entry in enumerate(existing) if isinstance(entry, dict)}
            for entry in packed:
                if entry["id"] in by_id:
                    existing[by_id[entry["id"]]] = entry
                else:
                    existing.append(entry)
        if not scripting:
            del data["scripting"]
        return document

    def _references(self, data):
        """Hook ids the servers use, per type, each with where it is named."""
        refs = {kind: [] for kind in HOOK_TYPES}
        servers = data.get("servers") if isinstance(data.get("servers"), list) else []
        for i, server in enumerate(servers):
            phases = server.get("phases") if isinstance(server, dict) and isinstance(server.get("phases"), dict) else {}
            for kind in HOOK_TYPES:
                phase = phases.get(kind) if isinstance(phases.get(kind), dict) else {}
                for where, ident in semantic.hook_refs(("servers", i, "phases", kind, "hook"), phase.get("hook")):
                    if ident not in (r[1] for r in refs[kind]):
                        refs[kind].append((where, ident))
        return refs

    def _add_hook(self, document, hooks, kind, ident, where):
        entries = hooks.setdefault(kind, [])
        if not isinstance(entries, list):
            return
        rel = self.rel("src", "hooks", kind, ident + ".hsl")
        full = self.path("src", "hooks", kind, ident + ".hsl")
        inline = [i for i, e in enumerate(entries) if isinstance(e, dict) and e.get("id") == ident]
        if not os.path.isfile(full):
            if not inline:
                self.problems.append(document.problem(where, "no script %s for this hook" % (rel,)))
            return
        source = self._read_text(full, rel)
        if source is None:
            return
        entry = {"id": ident, "data": source}
        if inline:
            entries[inline[0]] = entry
        else:
            entries.append(entry)

    def _read_text(self, full, rel):
        try:
            with open(full, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            return None
        except OSError as e:
            self.problems.append(Problem(rel, None, e.strerror or str(e)))
            return None
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as e:
            self.problems.append(Problem(rel, None, "not valid UTF-8 (byte %d)" % (e.start,)))
            return None

    # -- src/files ------------------------------------------------------------

    def _files(self):
        """scripting.files[] entries for src/files, sorted by id."""
        entries = []
        for ident, full in self.file_list():
            with open(full, "rb") as f:
                raw = f.read()
            try:
                entries.append({"id": ident, "data": raw.decode("utf-8")})
            except UnicodeDecodeError:
                entries.append({"id": ident, "data": base64.b64encode(raw).decode("ascii"), "binary": True})
        return entries

    def file_list(self):
        """(id, full path) of the files under src/files that are packed."""
        root = self.path("src", "files")
        if not os.path.isdir(root):
            return []
        ignores = []
        found = []
        for folder, dirs, names in os.walk(root):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            rel_folder = os.path.relpath(folder, root).replace(os.sep, "/")
            rel_folder = "" if rel_folder == "." else rel_folder
            if ".halonignore" in names:
                ignores += [(rel_folder, p) for p in _ignore_patterns(os.path.join(folder, ".halonignore"))]
            for name in sorted(names):
                if not name.startswith("."):
                    found.append(((rel_folder + "/" if rel_folder else "") + name, os.path.join(folder, name)))
        return [(ident, full) for ident, full in found if not _ignored(ident, ignores)]

    # -- HSL ----------------------------------------------------------------------

    def _lint(self):
        """Compile every .hsl file under src/hooks and src/files."""
        if not hsl.available():
            self.problems.append(
                Problem("halonconfig", None, "cannot check HSL: the halon.hsl package is not installed (use --no-check-hsl)")
            )
            return
        scripts = []
        hooks_root = self.path("src", "hooks")
        for folder, dirs, names in os.walk(hooks_root):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(names):
                if name.endswith(".hsl") and not name.startswith("."):
                    full = os.path.join(folder, name)
                    scripts.append((os.path.relpath(full, self.folder).replace(os.sep, "/"), full))
        for ident, full in self.file_list():
            if ident.endswith(".hsl"):
                scripts.append((self.rel("src", "files", ident), full))
        for rel, full in scripts:
            source = self._read_text(full, rel)
            if source is None:
                continue
            for message in hsl.syntax_errors(source, rel):
                self.problems.append(_positioned(rel, message))


def _positioned(rel, message):
    """A syntax error (C{file:line:col: reason}) as a Problem that prints the same way."""
    match = re.match(r"^%s:(\d+):(\d+): (.*)$" % (re.escape(rel),), message, re.S)
    if match is None:
        return Problem(rel, None, message[len(rel) + 1 :].lstrip() if message.startswith(rel + ":") else message)
    return Problem(rel, None, match.group(3), int(match.group(1)), int(match.group(2)))


def _ignore_patterns(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = [line.strip() for line in f.read().splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def _ignored(ident, ignores):
    """
    Whether a file id is excluded by a .halonignore pattern.  Patterns apply
    below the folder of their .halonignore; a pattern without a slash
    matches the file name at any depth, one with a slash the path from that
    folder, and one ending in a slash a whole folder.
    """
    for folder, pattern in ignores:
        if folder and not ident.startswith(folder + "/"):
            continue
        rel = ident[len(folder) + 1 :] if folder else ident
        if pattern.endswith("/"):
            pattern = pattern.strip("/")
            parts = rel.split("/")[:-1]
            if "/" in pattern:
                if any(fnmatch.fnmatchcase("/".join(parts[: i + 1]), pattern) for i in range(len(parts))):
                    return True
            elif any(fnmatch.fnmatchcase(part, pattern) for part in parts):
                return True
            continue
        if "/" in pattern.strip("/"):
            if fnmatch.fnmatchcase(rel, pattern.lstrip("/")):
                return True
        elif fnmatch.fnmatchcase(rel.rsplit("/", 1)[-1], pattern.lstrip("/")):
            return True
    return False


def write(folder, output):
    """Write packed files into C{folder}/dist (each replaced in one step); the paths written."""
    dist = os.path.join(folder, "dist")
    os.makedirs(dist, exist_ok=True)
    written = []
    for name, data in sorted(output.items()):
        target = os.path.join(dist, name)
        tmp = target + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
        written.append(target)
    return written
