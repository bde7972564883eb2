{# Comments with every theme's mentions (mentions_<theme>, as comment_themes.sql writes `mentions` for one
   theme) and the sentiment score (as comment_sentiment.sql): the rows every comment metric draws on in a full
   refresh (Metric.rows_of), worked out once for all of them. #}
{% extends "_comments.sql" %}
{% block columns %}{% for theme in themes %}(r.comment ~* {{ sql_literal(theme_pattern(theme)) }})::int as mentions_{{ theme }}, {% endfor %}{{ SENTIMENT_SCORE_SQL }} as sentiment{% endblock %}
