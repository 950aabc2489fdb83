"""evidencebook: a living evidence review built from a Zotero library.

The pipeline reads in one direction, one module per stage::

    _zotero (snapshot) -> _coding (notes and tags) -> _evidence (tables) -> _synthesis
        -> _plots / _display -> _briefs and _book

Notebooks and users only ever write ``import evidencebook as eb``.
"""

from __future__ import annotations

from ._book import *  # noqa: F403
from ._book import __all__ as _book_all
from ._briefs import *  # noqa: F403
from ._briefs import __all__ as _briefs_all
from ._coding import *  # noqa: F403
from ._coding import __all__ as _coding_all
from ._config import *  # noqa: F403
from ._config import __all__ as _config_all
from ._errors import *  # noqa: F403
from ._errors import __all__ as _errors_all
from ._evidence import *  # noqa: F403
from ._evidence import __all__ as _evidence_all
from ._meta import *  # noqa: F403
from ._meta import __all__ as _meta_all
from ._regions import *  # noqa: F403
from ._regions import __all__ as _regions_all
from ._display import *  # noqa: F403
from ._display import __all__ as _display_all
from ._sync import *  # noqa: F403
from ._sync import __all__ as _sync_all
from ._synthesis import *  # noqa: F403
from ._synthesis import __all__ as _synthesis_all
from ._zotero import *  # noqa: F403
from ._zotero import __all__ as _zotero_all

__all__ = sorted({*_meta_all, *_book_all, *_briefs_all, *_display_all, *_synthesis_all, *_sync_all, *_coding_all, *_config_all, *_errors_all, *_evidence_all, *_regions_all, *_zotero_all})
__version__ = "0.1.0"
