"""Fixes: typed text edits, how far they can be trusted, and the source view that builds
them. Rules find problems on the summaries; the edits are made here, on the file's text,
with libcst for the ones that must keep a call's formatting (adding a keyword argument,
rewriting a call), parsed only when such a fix is asked for.

- `model`: Applicability, Edit, Fix;
- `source_view`: LineIndex, SourceView (a file's text and its trees);
- `edits`: libcst and import building blocks shared by the rules' fixes;
- `running_total`: TL301's proof and edits for a running total kept on the device.
"""

from torchlint.fixes.edits import (
    argument_node,
    import_edit,
    keyword_fix,
    keyword_value_node,
    module_alias,
    name_is_free,
    positional_node,
    torch_reference,
    with_keyword,
)
from torchlint.fixes.model import DISPLAY_ONLY, SAFE, UNSAFE, Applicability, Edit, Fix
from torchlint.fixes.source_view import LineIndex, SourceView

__all__ = [
    "DISPLAY_ONLY", "SAFE", "UNSAFE", "Applicability", "Edit", "Fix", "LineIndex", "SourceView", "argument_node",
    "import_edit", "keyword_fix", "keyword_value_node", "module_alias", "name_is_free", "positional_node",
    "torch_reference", "with_keyword",
]
