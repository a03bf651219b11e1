import random

from memrl.env import MemoryEnv, register, tool


class RoomsEnv(MemoryEnv):
    """Remember which room each guest stays in; answer from memory after the context is cleared.

    Description: turn 1 lists three guests' rooms; then the context is cleared (a new training
        segment; long-term memory persists) and the next turn asks for one guest's room.
    Memory tools: ``note(fact)`` stores a fact; ``lookup(query)`` returns the best matches.
    Observation: the system prompt (instructions + tool schemas), user messages, tool results.
    Rewards: 1.0 when the answer is the guest's room number, else 0.0 (also without an answer).
    Episode end: terminated on an answer; truncated after ``max_turns`` (4).
    Arguments: the base class's (``max_turns``, ``memory`` store, baseline ``memory_mode``).
    Version history: v0: first version.
    """

    max_turns = 4

    def sample_task(self, rng: random.Random) -> dict:  # make_tasks draws seeded splits from it
        guests = rng.sample(["Ada", "Bo", "Cy", "Dee", "Eli", "Fay", "Gus", "Hal"], 3)
        rooms = {guest: str(rng.randint(100, 999)) for guest in guests}
        return {"rooms": rooms, "asked": rng.choice(guests)}

    def begin(self, task: dict) -> None:  # the first messages the model sees
        facts = "\n".join(f"{guest} stays in room {room}." for guest, room in task["rooms"].items())
        self.start_stage(("system", self.system_prompt("Store what you will need later.")), ("user", facts))

    def after_turn(self, action) -> bool:  # turn 1 ends the reading stage: a fresh context
        if self.turn == 1:
            question = f"Which room is {self.task['asked']} in? Answer inside <answer></answer>."
            self.start_stage(("system", self.system_prompt("Use your memory.")), ("user", question))
        return False  # no early end: the episode goes on until an answer or max_turns

    def finish(self, answer: str) -> float:  # the reward of the final answer
        score = float(answer.strip() == self.task["rooms"][self.task["asked"]])
        self.outcome.update(score=score, success=score == 1.0)
        return score

    @tool
    def note(self, fact: str) -> str:
        """Store a fact in long-term memory.

        Args:
            fact: The fact, as a sentence.
        """
        return self.memory.add(fact).message

    @tool
    def lookup(self, query: str) -> str:
        """Search long-term memory for the best matching facts.

        Args:
            query: What to look for.
        """
        return self.memory.retrieve(query, 3).message


register("mine/Rooms-v0", RoomsEnv)
