#!/usr/bin/env python3
"""Where a wasm module's bytes go: code by crate, data, and the largest functions.

    scripts/wasm-sizes.py MODULE.wasm [TOP]

It reads the module's own name section, so give it a module that still has one: the
`wasm-release` build as cargo leaves it (target/front/wasm32-unknown-unknown/wasm-release/
portals.wasm), before wasm-bindgen and wasm-opt strip the names. Its sizes are raw, not gzip;
the shares carry over to the shipped bundle roughly, not exactly. A function belongs to the
crate that defines it, and a generic one to the crate of its definition too (serde_json's
parser instantiated for our types counts as serde_json), with trait impls counted under the
crate of the type they are for.
"""
import collections, re, sys


def leb(data, at):
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


def sections(data):
    if data[:4] != b"\0asm":
        sys.exit("not a wasm module")
    at = 8
    while at < len(data):
        kind = data[at]
        size, at = leb(data, at + 1)
        yield kind, data[at : at + size]
        at += size


def imported_functions(body):
    count, at = leb(body, 0)
    functions = 0
    for _ in range(count):
        for _ in range(2):  # module and field names
            length, at = leb(body, at)
            at += length
        kind = body[at]
        at += 1
        if kind == 0:
            functions += 1
            _, at = leb(body, at)
        elif kind == 1:  # table: reftype, limits
            at += 1
            flags, at = leb(body, at)
            _, at = leb(body, at)
            if flags & 1:
                _, at = leb(body, at)
        elif kind == 2:  # memory: limits
            flags, at = leb(body, at)
            _, at = leb(body, at)
            if flags & 1:
                _, at = leb(body, at)
        elif kind == 3:  # global: type, mutability
            at += 2
        else:  # tag
            at += 1
            _, at = leb(body, at)
    return functions


def function_names(body):
    at, names = 0, {}
    while at < len(body):
        sub = body[at]
        size, at = leb(body, at + 1)
        if sub == 1:
            count, inner = leb(body, at)
            for _ in range(count):
                index, inner = leb(body, inner)
                length, inner = leb(body, inner)
                names[index] = body[inner : inner + length].decode("utf-8", "replace")
                inner += length
        at += size
    return names


def crate_of(name):
    """The crate of a mangled Rust symbol (legacy or v0), or a label for anything else."""
    if name.startswith("_ZN"):
        first = re.match(r"_ZN(\d+)", name)
        if not first:
            return "?"
        part = name[first.end() : first.end() + int(first.group(1))]
        # `<T as Trait>::f` is mangled as `_$LT$T$u20$as$u20$Trait$GT$`: T's crate, or the
        # trait's where T is a bare type parameter (a blanket impl) or a primitive.
        part = re.sub(r"^_?\$LT\$", "", part)
        part = re.sub(r"^((\$RF\$|\$BP\$|mut\$u20\$|const\$u20\$|dyn\$u20\$|\$LP\$|\$u5b\$)+)", "", part)
        subject, _, trait = part.partition("$u20$as$u20$")
        if trait and ".." not in subject.split("$")[0]:
            subject = re.sub(r"^((\$RF\$|\$BP\$|mut\$u20\$|dyn\$u20\$)+)", "", trait)
        return re.split(r"\.\.|\$", subject)[0] or "?"
    if name.startswith("_R"):
        crate = re.search(r"C(?:s[0-9a-zA-Z]*_)?(\d+)([a-zA-Z_][a-zA-Z0-9_]*)", name)
        if crate:
            return crate.group(2)[: int(crate.group(1))]
    if name.startswith(("__wbg", "__wbindgen", "wasm_bindgen")):
        return "wasm_bindgen"
    return "(other: " + re.split(r"[^a-zA-Z_]", name)[0][:20] + ")"


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    path = sys.argv[1]
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 25
    data = open(path, "rb").read()
    imports, bodies, names, by_section = 0, [], {}, collections.Counter()
    for kind, body in sections(data):
        by_section[kind] += len(body)
        if kind == 2:
            imports = imported_functions(body)
        elif kind == 10:
            count, at = leb(body, 0)
            for _ in range(count):
                size, at = leb(body, at)
                bodies.append(size)
                at += size
        elif kind == 0:
            length, at = leb(body, 0)
            if body[at : at + length] == b"name":
                names = function_names(body[at + length :])
    if not names:
        sys.exit(f"{path} has no name section: give it the module before wasm-bindgen strips it")
    by_crate, largest = collections.Counter(), []
    for offset, size in enumerate(bodies):
        name = names.get(imports + offset, f"#{imports + offset}")
        by_crate[crate_of(name)] += size
        largest.append((size, name))
    code, data_bytes = by_section[10], by_section[11]
    total = len(data)
    print(f"{path}: {total} bytes; code {code}, data {data_bytes}, names and the rest {total - code - data_bytes}")
    print()
    print("| crate | code bytes | share of code |")
    print("|---|---|---|")
    for crate, size in by_crate.most_common(top):
        print(f"| {crate} | {size} | {100 * size / code:.1f} % |")
    print()
    print("| largest functions | bytes |")
    print("|---|---|")
    for size, name in sorted(largest, reverse=True)[:top]:
        print(f"| `{name[:110]}` | {size} |")


if __name__ == "__main__":
    main()
