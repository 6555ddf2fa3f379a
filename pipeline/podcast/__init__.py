"""The podcast: the script read from an issue's highlights (`script`, built from
`pipeline.render`'s issue view), its text rewritten for the ear (`spoken`: no URLs, markup,
symbols or digits), the text-to-speech engines behind one seam (`speech`: espeak-ng or an
OpenAI-compatible endpoint), and the MP3 with chapter marks made from it in cached chunks
(`audio`). `pipeline.issue_files` writes them next to the issue's renderings."""
