"""Rasa NLU components of the assistant (named in config.yml).

``TraditionalToSimplified`` runs first in the pipeline: a message written in traditional
characters (網路連不上, 登入不了) reaches the tokenizer, the featurizers and the entity ruler as
the simplified mainland text the training data is written in. Entity offsets stay valid: a
conversion that would change the text's length is not applied (see
:func:`understanding.normalize.same_length_simplified`).

``PinyinToHanzi`` runs next: a message that is pinyin and nothing else (「wang ji mi ma le」,
「zhuanrengong」) is read back as the training data's own words (忘记密码了, 转人工). It learns
its index from the training examples and keeps it in the model (see understanding/pinyin.py).
"""

from __future__ import annotations

import json
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from understanding.normalize import same_length_simplified
from understanding.pinyin import PinyinIndex, all_syllables


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER], is_trainable=False)
class TraditionalToSimplified(GraphComponent):  # type: ignore[misc]  # rasa is untyped
    """Converts traditional characters to simplified ones before tokenization."""

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> TraditionalToSimplified:
        return cls()

    @staticmethod
    def _convert(message: Message) -> None:
        text = message.get(TEXT)
        if isinstance(text, str) and text:
            message.set(TEXT, same_length_simplified(text))

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        for message in training_data.training_examples:
            self._convert(message)
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            self._convert(message)
        return messages


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER], is_trainable=True)
class PinyinToHanzi(GraphComponent):  # type: ignore[misc]  # rasa is untyped
    """Reads a message typed wholly in pinyin as the characters of the training data."""

    FILE = "pinyin_index.json"

    def __init__(
        self, model_storage: ModelStorage, resource: Resource, index: PinyinIndex | None = None
    ) -> None:
        self._storage = model_storage
        self._resource = resource
        self._index = index or PinyinIndex()

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> PinyinToHanzi:
        return cls(model_storage, resource)

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> PinyinToHanzi:
        try:
            with model_storage.read_from(resource) as directory:
                words = json.loads((directory / cls.FILE).read_text(encoding="utf-8"))
        except (ValueError, FileNotFoundError, OSError):
            words = {}
        all_syllables()  # read pypinyin's table now (about 1 s), not on a user's first message
        return cls(model_storage, resource, PinyinIndex(words))

    def train(self, training_data: TrainingData) -> Resource:
        texts = [m.get(TEXT) for m in training_data.training_examples if m.get(TEXT)]
        self._index = PinyinIndex.from_texts(texts)
        with self._storage.write_to(self._resource) as directory:
            (directory / self.FILE).write_text(
                json.dumps(self._index.words, ensure_ascii=False), encoding="utf-8"
            )
        return self._resource

    def _convert(self, message: Message, training: bool) -> None:
        text = message.get(TEXT)
        if not isinstance(text, str) or not text or (training and message.get("entities")):
            return  # a training example's entity offsets belong to its own text
        read = self._index.read(text)
        if read:
            message.set(TEXT, read)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        for message in training_data.training_examples:
            self._convert(message, training=True)
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            self._convert(message, training=False)
        return messages
