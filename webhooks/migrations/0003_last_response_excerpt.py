from django.db import migrations, models
from django.db.models.functions import Left, Length

EXCERPT = 200


def cut_stored_answers(apps, schema_editor):
    # Answers were kept up to 2,000 characters and shown to every write token: cut those already
    # stored to the excerpt the log keeps from now on.
    WebhookDelivery = apps.get_model("webhooks", "WebhookDelivery")
    WebhookDelivery.objects.annotate(size=Length("last_response")).filter(size__gt=EXCERPT).update(
        last_response=Left("last_response", EXCERPT)
    )


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0002_chat_formats"),
    ]

    operations = [
        migrations.AlterField(
            model_name="webhookdelivery",
            name="last_response",
            field=models.TextField(blank=True, help_text="the first 200 characters of the last answer, or the error"),
        ),
        migrations.RunPython(cut_stored_answers, migrations.RunPython.noop, elidable=True),
    ]
