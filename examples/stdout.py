def main():
    print("This will appear in stdout")
    result = {"processed": True, "items": 10}
    print(f"Processed {result['items']} items")
    return result
