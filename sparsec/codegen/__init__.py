"""IR -> C: lowering to kernel calls, memory plan, C text, project files."""
