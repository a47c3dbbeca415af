"""Static types of the read methods: ``schema=Out`` returns ``Out``, else the model.

Type checkers only: at run time :class:`TypedReads` is an empty base, and the methods are
:class:`sqlops._reads.Reads`'. The overloads live here so the read logic stays readable.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from ._expressions import Where
from ._pagination import CursorPage, Page

M = TypeVar("M")
S = TypeVar("S")
Load = Sequence[Any] | str

if TYPE_CHECKING:
    # fmt: off
    class TypedReads(Generic[M]):
        @overload
        async def get(
            self, pk: Any, *, load: Load = ..., with_deleted: bool = ...,
            for_update: bool = ..., schema: None = ...,
        ) -> M | None: ...
        @overload
        async def get(
            self, pk: Any, *, load: Load = ..., with_deleted: bool = ...,
            for_update: bool = ..., schema: type[S],
        ) -> S | None: ...
        async def get(self, pk: Any, **kwargs: Any) -> Any: ...

        @overload
        async def get_one(
            self, pk: Any, *, load: Load = ..., with_deleted: bool = ...,
            for_update: bool = ..., schema: None = ...,
        ) -> M: ...
        @overload
        async def get_one(
            self, pk: Any, *, load: Load = ..., with_deleted: bool = ...,
            for_update: bool = ..., schema: type[S],
        ) -> S: ...
        async def get_one(self, pk: Any, **kwargs: Any) -> Any: ...

        @overload
        async def first(
            self, *where: Where, order_by: Any = ..., load: Load = ...,
            with_deleted: bool = ..., for_update: bool = ..., schema: None = ...,
            **filters: Any,
        ) -> M | None: ...
        @overload
        async def first(
            self, *where: Where, order_by: Any = ..., load: Load = ...,
            with_deleted: bool = ..., for_update: bool = ..., schema: type[S],
            **filters: Any,
        ) -> S | None: ...
        async def first(self, *where: Any, **kwargs: Any) -> Any: ...

        @overload
        async def one(
            self, *where: Where, load: Load = ..., with_deleted: bool = ...,
            for_update: bool = ..., schema: None = ..., **filters: Any,
        ) -> M: ...
        @overload
        async def one(
            self, *where: Where, load: Load = ..., with_deleted: bool = ...,
            for_update: bool = ..., schema: type[S], **filters: Any,
        ) -> S: ...
        async def one(self, *where: Any, **kwargs: Any) -> Any: ...

        @overload
        async def list(
            self, *where: Where, order_by: Any = ..., limit: int | None = ...,
            offset: int | None = ..., load: Load = ..., with_deleted: bool = ...,
            for_update: bool = ..., schema: None = ..., **filters: Any,
        ) -> list[M]: ...
        @overload
        async def list(
            self, *where: Where, order_by: Any = ..., limit: int | None = ...,
            offset: int | None = ..., load: Load = ..., with_deleted: bool = ...,
            for_update: bool = ..., schema: type[S], **filters: Any,
        ) -> list[S]: ...
        async def list(self, *where: Any, **kwargs: Any) -> Any: ...

        @overload
        async def page(
            self, *where: Where, page: int = ..., per_page: int = ...,
            order_by: Any = ..., load: Load = ..., with_deleted: bool = ...,
            schema: None = ..., **filters: Any,
        ) -> Page[M]: ...
        @overload
        async def page(
            self, *where: Where, page: int = ..., per_page: int = ...,
            order_by: Any = ..., load: Load = ..., with_deleted: bool = ...,
            schema: type[S], **filters: Any,
        ) -> Page[S]: ...
        async def page(self, *where: Any, **kwargs: Any) -> Any: ...

        @overload
        async def cursor_page(
            self, *where: Where, after: str | None = ..., limit: int = ...,
            order_by: Any = ..., load: Load = ..., with_deleted: bool = ...,
            schema: None = ..., **filters: Any,
        ) -> CursorPage[M]: ...
        @overload
        async def cursor_page(
            self, *where: Where, after: str | None = ..., limit: int = ...,
            order_by: Any = ..., load: Load = ..., with_deleted: bool = ...,
            schema: type[S], **filters: Any,
        ) -> CursorPage[S]: ...
        async def cursor_page(self, *where: Any, **kwargs: Any) -> Any: ...

        @overload
        def stream(
            self, *where: Where, order_by: Any = ..., batch_size: int = ...,
            with_deleted: bool = ..., schema: None = ..., **filters: Any,
        ) -> AsyncIterator[M]: ...
        @overload
        def stream(
            self, *where: Where, order_by: Any = ..., batch_size: int = ...,
            with_deleted: bool = ..., schema: type[S], **filters: Any,
        ) -> AsyncIterator[S]: ...
        def stream(self, *where: Any, **kwargs: Any) -> Any: ...
    # fmt: on

else:

    class TypedReads(Generic[M]):
        """Empty at run time: the read methods are :class:`sqlops._reads.Reads`'."""
