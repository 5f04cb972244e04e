"""Writes a pure-Python wheel with zipfile, laid out as a PEP 503 simple index:
   <root>/simple/<name>/<name>-<version>-py3-none-any.whl
Usage: python3 make_wheel.py ROOT NAME VERSION
The package's module `<name>` has VALUE = "<name> <version>" and greet(who)."""
import base64, hashlib, os, sys, zipfile

root, name, version = sys.argv[1:4]
dist = f"{name}-{version}.dist-info"
files = {
    f"{name}/__init__.py": f'VALUE = "{name} {version}"\n\ndef greet(who):\n    return f"hello {{who}} from {name}"\n',
    f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
    f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: radical-faas-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
record = []
for path, text in files.items():
    digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
    record.append(f"{path},sha256={digest},{len(text.encode())}")
record.append(f"{dist}/RECORD,,")
files[f"{dist}/RECORD"] = "\n".join(record) + "\n"
directory = os.path.join(root, "simple", name)
os.makedirs(directory, exist_ok=True)
with zipfile.ZipFile(os.path.join(directory, f"{name}-{version}-py3-none-any.whl"), "w") as wheel:
    for path, text in files.items():
        wheel.writestr(path, text)
