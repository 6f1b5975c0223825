# Sourced by the project's scripts: puts a project-local Node 24 first on PATH,
# installing it from the npm registry's `node` package when missing.
# kpipe targets Node >= 22; the machine's own node is never touched.
KPIPE_NODE_VERSION=24.21.0
_kpipe_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
_kpipe_node_dir="$_kpipe_root/.tools"
if [ "$("$_kpipe_node_dir/node_modules/.bin/node" --version 2>/dev/null)" != "v$KPIPE_NODE_VERSION" ]; then
  echo "kpipe: installing Node $KPIPE_NODE_VERSION into .tools/ ..." >&2
  mkdir -p "$_kpipe_node_dir"
  npm install --prefix "$_kpipe_node_dir" --no-save --no-audit --no-fund --loglevel=error \
    "node@$KPIPE_NODE_VERSION" >&2
fi
export PATH="$_kpipe_node_dir/node_modules/.bin:$PATH"
unset _kpipe_root _kpipe_node_dir
