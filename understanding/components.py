"""Rasa NLU components of the assistant (named in config.yml).

``TraditionalToSimplified`` runs first in the pipeline: a message written in traditional
characters (網路連不上, 登入不了) reaches the tokenizer, the featurizers and the entity ruler as
the simplified mainland text the training data is written in. Entity offsets stay valid: a
conversion that would change the text's length is not applied (see
:func:`understanding.normalize.same_length_simplified`).
"""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from understanding.normalize import same_length_simplified


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER], is_trainable=False)
class TraditionalToSimplified(GraphComponent):
    """Converts traditional characters to simplified ones before tokenization."""

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "TraditionalToSimplified":
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

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            self._convert(message)
        return messages
